"""What a fresh install has: the topics (with their first consent texts), a privacy
statement to adapt, and the Marketer group's consent permissions (read the ledger, never
edit it)."""

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant, group_revoke

TOPICS = [
    {
        "key": "newsletter",
        "category": "commercial",
        "soft_opt_in_allowed": True,
        "position": 10,
        "name_nl": "Nieuwsbrief en aanbiedingen",
        "name_en": "Newsletter and offers",
        "description_nl": "Nieuws, aanbiedingen en tips, soms afgestemd op wat u kocht.",
        "description_en": "News, offers and tips, sometimes matched to what you bought.",
        "text_nl": (
            "Ja, stuur mij de nieuwsbrief met nieuws, aanbiedingen en tips per e-mail, ook "
            "afgestemd op wat ik bekeek en kocht. Ik kan me altijd met één klik afmelden."
        ),
        "text_en": (
            "Yes, send me the newsletter with news, offers and tips by email, also matched "
            "to what I viewed and bought. I can unsubscribe at any time with one click."
        ),
    },
    {
        "key": "service",
        "category": "service",
        "soft_opt_in_allowed": False,
        "position": 50,
        "name_nl": "Servicemail",
        "name_en": "Service mail",
        "description_nl": "Verjaardagsgroet, wijzigingen in voorwaarden en korte enquêtes.",
        "description_en": "Birthday greetings, changes to our terms and short surveys.",
        "text_nl": "Servicemail over uw klantrelatie; u kunt die op uw voorkeurenpagina uitzetten.",
        "text_en": "Service mail about your customer relationship; you can turn it off on your preferences page.",
    },
    {
        "key": "transactional",
        "category": "transactional",
        "soft_opt_in_allowed": False,
        "public": False,
        "position": 90,
        "name_nl": "Bevestigingen",
        "name_en": "Confirmations",
        "description_nl": "Bevestiging van uw aanmelding, van een nieuw e-mailadres en van uw verzoeken.",
        "description_en": "Confirmation of your sign-up, of a new email address and of your requests.",
        "text_nl": "Noodzakelijke berichten die u zelf in gang zet.",
        "text_en": "Necessary messages that you set in motion yourself.",
    },
]

PRIVACY_NL = """Wie wij zijn
Wij houden een klantenbestand bij om u mail te sturen waar u om vroeg of waar u als klant op mag rekenen. Hieronder leest u wat we bewaren, waarom, hoe lang, en welke rechten u heeft.

Wat we bewaren
Uw naam, e-mailadres en de gegevens die u ons gaf (zoals geboortedatum, adres, taal en tijdzone); uw bestellingen en wat u op onze website deed; uw toestemmingen, met wanneer en hoe u ze gaf of introk; welke mails we u stuurden en of u ze opende; uw antwoorden op enquêtes.

Waarom
Om u de mails te sturen waarvoor u toestemming gaf (nieuwsbrief, aanbiedingen), om u als klant te informeren over vergelijkbare producten (u kunt dat altijd weigeren), voor servicemail zoals een verjaardagsgroet, en om te kunnen bewijzen dat u toestemming gaf.

Hoe lang
Zolang u klant bent of ingeschreven staat. Na uitschrijving bewaren we het bewijs van uw toestemming en intrekking zolang de wet dat vraagt. Als u ons vraagt uw gegevens te wissen, verwijderen we ze overal; we houden alleen een onherleidbare code van uw e-mailadres over, zodat we u nooit opnieuw zonder uw toestemming mailen.

Uw rechten
U kunt uw gegevens inzien en verbeteren, uw toestemmingen aanpassen of intrekken, uw gegevens downloaden en ze laten wissen: allemaal via de voorkeurenpagina waar elke mail naar linkt. U kunt ook een klacht indienen bij de Autoriteit Persoonsgegevens."""

PRIVACY_EN = """Who we are
We keep a customer list to send you the mail you asked for or may expect as a customer. Below you read what we keep, why, for how long, and what your rights are.

What we keep
Your name, email address and the details you gave us (such as date of birth, address, language and time zone); your orders and what you did on our website; your permissions, with when and how you gave or withdrew them; which mails we sent you and whether you opened them; your answers to surveys.

Why
To send you the mail you agreed to (newsletter, offers), to tell you as a customer about similar products (you can always refuse), for service mail such as a birthday greeting, and to be able to prove that you gave permission.

How long
As long as you are a customer or subscribed. After you unsubscribe we keep the proof of your permission and its withdrawal as long as the law asks. If you ask us to erase your data we remove it everywhere; we keep only a code of your email address that cannot be traced back to you, so that we never mail you again without your permission.

Your rights
You can see and correct your data, change or withdraw your permissions, download your data and have it erased: all on the preferences page every mail links to. You can also complain to the Dutch Data Protection Authority (Autoriteit Persoonsgegevens)."""

PERMISSIONS = [
    "consent.view_topic",
    "consent.add_topic",
    "consent.change_topic",
    "consent.view_consenttext",
    "consent.view_consentevent",
    "consent.view_consentstate",
    "consent.view_suppression",
    "consent.add_suppression",
    "consent.view_privacystatement",
    "consent.change_privacystatement",
]


def forwards(apps, schema_editor):
    Topic = apps.get_model("consent", "Topic")
    ConsentText = apps.get_model("consent", "ConsentText")
    PrivacyStatement = apps.get_model("consent", "PrivacyStatement")
    for spec in TOPICS:
        spec = dict(spec)
        text_nl, text_en = spec.pop("text_nl"), spec.pop("text_en")
        topic, created = Topic.objects.get_or_create(key=spec["key"], defaults=spec)
        if created:
            text = ConsentText.objects.create(topic=topic, version=1, text_nl=text_nl, text_en=text_en)
            topic.current_text = text
            topic.save(update_fields=["current_text"])
    if not PrivacyStatement.objects.exists():
        PrivacyStatement.objects.create(body_nl=PRIVACY_NL, body_en=PRIVACY_EN)
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)


def backwards(apps, schema_editor):
    group_revoke(apps, MARKETER_GROUP, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_ledger_guard"),
        ("profiles", "0002_marketer_group"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
