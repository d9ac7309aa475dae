"""The lifecycle mailings of the brief, live on a fresh install, with Dutch and English
templates, and the default frequency policy (1 commercial mail per 24 h, 3 per 7 days).
Marketers edit them in the admin; this migration only creates what is missing."""

import datetime as dt

from django.db import migrations

LAYOUT = (
    '<html><head><style>'
    "body{{font-family:Arial,Helvetica,sans-serif;color:#1f2933;background:#f5f7fa;margin:0}}"
    ".card{{max-width:560px;margin:0 auto;background:#ffffff;padding:24px}}"
    "h1{{font-size:22px;margin:0 0 12px}}p{{font-size:15px;line-height:1.5}}"
    ".button{{display:inline-block;background:#0b6e4f;color:#ffffff;padding:10px 18px;"
    "text-decoration:none;border-radius:4px}}"
    "td{{padding:6px;vertical-align:middle}}"
    '</style></head><body><div class="card">{body}</div></body></html>'
)
BASKET_ROWS = (
    "<table>{% for item in basket %}<tr>"
    '<td>{% if item.image_url %}<img src="{{ item.image_url }}" alt="" width="64">{% endif %}</td>'
    '<td><a href="{{ item.url }}">{{ item.name }}</a></td>'
    "<td>€ {{ '%.2f'|format(item.price|float) }}</td></tr>{% endfor %}</table>"
)
BASKET_TEXT = "{% for item in basket %}- {{ item.name }}: € {{ '%.2f'|format(item.price|float) }}\n  {{ item.url }}\n{% endfor %}"

CAMPAIGNS = [
    {
        "key": "welcome",
        "name": "Welkom",
        "topic": "newsletter",
        "trigger": "consent",
        "reentry": "once",
        "priority": 90,
        "late_cutoff": dt.timedelta(hours=24),
        "templates": {
            "nl": (
                "Welkom{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!",
                "Fijn dat u erbij bent.",
                "<h1>Welkom{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!</h1>"
                "<p>Dank voor uw aanmelding. U hoort voortaan als eerste van nieuwe collecties, "
                "aanbiedingen en tips.</p>"
                '<p><a class="button" href="{{ shop.shop_url }}">Bekijk wat er nieuw is</a></p>',
                "Welkom{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!\n\n"
                "Dank voor uw aanmelding. U hoort voortaan als eerste van nieuwe collecties, "
                "aanbiedingen en tips.\n",
            ),
            "en": (
                "Welcome{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!",
                "Glad to have you.",
                "<h1>Welcome{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!</h1>"
                "<p>Thank you for signing up. You will be the first to hear about new "
                "collections, offers and tips.</p>"
                '<p><a class="button" href="{{ shop.shop_url }}">See what is new</a></p>',
                "Welcome{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!\n\n"
                "Thank you for signing up. You will be the first to hear about new "
                "collections, offers and tips.\n",
            ),
        },
    },
    {
        "key": "abandoned-basket",
        "name": "Achtergelaten winkelmand",
        "topic": "newsletter",
        "trigger": "basket",
        "delay": dt.timedelta(hours=24),
        "exit_events": ["Order Completed"],
        "reentry": "each",
        "priority": 70,
        "late_cutoff": dt.timedelta(hours=48),
        "templates": {
            "nl": (
                "{% if customer.first_name %}{{ customer.first_name }}, u{% else %}U{% endif %}w winkelmand staat nog klaar",
                "{{ basket|length }} artikel(en) wachten op u.",
                "<h1>Uw winkelmand staat nog klaar</h1>"
                "<p>Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %}, "
                "u heeft nog iets in uw winkelmand laten liggen:</p>"
                + BASKET_ROWS
                + '<p><a class="button" href="{{ shop.basket_url }}">Naar mijn winkelmand</a></p>',
                "Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
                "u heeft nog iets in uw winkelmand laten liggen:\n\n"
                + BASKET_TEXT
                + "\nNaar uw winkelmand: {{ shop.basket_url }}\n",
            ),
            "en": (
                "{% if customer.first_name %}{{ customer.first_name }}, y{% else %}Y{% endif %}our basket is waiting",
                "{{ basket|length }} item(s) are waiting for you.",
                "<h1>Your basket is waiting</h1>"
                "<p>Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %}, "
                "you left something in your basket:</p>"
                + BASKET_ROWS
                + '<p><a class="button" href="{{ shop.basket_url }}">Go to my basket</a></p>',
                "Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
                "you left something in your basket:\n\n"
                + BASKET_TEXT
                + "\nYour basket: {{ shop.basket_url }}\n",
            ),
        },
    },
    {
        "key": "cross-sell",
        "name": "Cross-sell na 30 dagen",
        "topic": "newsletter",
        "trigger": "event",
        "trigger_event": "Order Completed",
        "delay": dt.timedelta(days=30),
        "reentry": "each",
        "priority": 40,
        "late_cutoff": dt.timedelta(days=7),
        "templates": {
            "nl": (
                "{{ proposition.title }}",
                "Speciaal gekozen bij uw bestelling.",
                "<h1>{{ proposition.title }}</h1>"
                "<p>Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},</p>"
                "{% if proposition.image_url %}<p><img src=\"{{ proposition.image_url }}\" alt=\"\" width=\"480\"></p>{% endif %}"
                "<p>{{ proposition.text }}</p>"
                '<p><a class="button" href="{{ proposition.url }}">Bekijk het aanbod</a></p>',
                "Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
                "{{ proposition.title }}\n\n{{ proposition.text }}\n\n{{ proposition.url }}\n",
            ),
            "en": (
                "{{ proposition.title }}",
                "Chosen with your order in mind.",
                "<h1>{{ proposition.title }}</h1>"
                "<p>Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},</p>"
                "{% if proposition.image_url %}<p><img src=\"{{ proposition.image_url }}\" alt=\"\" width=\"480\"></p>{% endif %}"
                "<p>{{ proposition.text }}</p>"
                '<p><a class="button" href="{{ proposition.url }}">See the offer</a></p>',
                "Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
                "{{ proposition.title }}\n\n{{ proposition.text }}\n\n{{ proposition.url }}\n",
            ),
        },
    },
    {
        "key": "birthday",
        "name": "Verjaardag",
        "topic": "service",
        "trigger": "yearly",
        "trigger_field": "birth_date",
        "send_at_local_time": dt.time(9, 0),
        "reentry": "each",
        "priority": 60,
        # The same local day: from 09:00 until just before midnight.
        "late_cutoff": dt.timedelta(hours=14, minutes=59),
        "templates": {
            "nl": (
                "Gefeliciteerd{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!",
                "Een fijne verjaardag gewenst.",
                "<h1>Gefeliciteerd{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!</h1>"
                "<p>Wij wensen u een hele fijne verjaardag en een mooi nieuw levensjaar.</p>",
                "Gefeliciteerd{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!\n\n"
                "Wij wensen u een hele fijne verjaardag en een mooi nieuw levensjaar.\n",
            ),
            "en": (
                "Happy birthday{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!",
                "Have a wonderful day.",
                "<h1>Happy birthday{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!</h1>"
                "<p>We wish you a wonderful birthday and a happy year ahead.</p>",
                "Happy birthday{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!\n\n"
                "We wish you a wonderful birthday and a happy year ahead.\n",
            ),
        },
    },
    {
        "key": "winback",
        "name": "Winback na 180 dagen",
        "topic": "newsletter",
        "trigger": "inactivity",
        "trigger_number": 180,
        "exit_events": ["Order Completed"],
        "reentry": "each",
        "priority": 30,
        "late_cutoff": dt.timedelta(days=30),
        "templates": {
            "nl": (
                "We missen u{% if customer.first_name %}, {{ customer.first_name }}{% endif %}",
                "Kom eens kijken wat er nieuw is.",
                "<h1>We missen u{% if customer.first_name %}, {{ customer.first_name }}{% endif %}</h1>"
                "<p>Het is alweer een tijd geleden. Er is veel nieuws: kom eens kijken.</p>"
                '<p><a class="button" href="{{ shop.shop_url }}">Naar de winkel</a></p>',
                "We missen u{% if customer.first_name %}, {{ customer.first_name }}{% endif %}.\n\n"
                "Het is alweer een tijd geleden. Er is veel nieuws: kom eens kijken.\n"
                "{{ shop.shop_url }}\n",
            ),
            "en": (
                "We miss you{% if customer.first_name %}, {{ customer.first_name }}{% endif %}",
                "Come and see what is new.",
                "<h1>We miss you{% if customer.first_name %}, {{ customer.first_name }}{% endif %}</h1>"
                "<p>It has been a while. There is a lot that is new: come and have a look.</p>"
                '<p><a class="button" href="{{ shop.shop_url }}">Visit the shop</a></p>',
                "We miss you{% if customer.first_name %}, {{ customer.first_name }}{% endif %}.\n\n"
                "It has been a while. There is a lot that is new: come and have a look.\n"
                "{{ shop.shop_url }}\n",
            ),
        },
    },
]


def create(apps, schema_editor):
    Topic = apps.get_model("consent", "Topic")
    Campaign = apps.get_model("campaigns", "Campaign")
    Template = apps.get_model("campaigns", "Template")
    FrequencyPolicy = apps.get_model("campaigns", "FrequencyPolicy")
    if not FrequencyPolicy.objects.exists():
        FrequencyPolicy.objects.create(max_per_day=1, max_per_week=3)
    for spec in CAMPAIGNS:
        spec = dict(spec)
        templates = spec.pop("templates")
        topic = Topic.objects.filter(key=spec.pop("topic")).first()
        if topic is None or Campaign.objects.filter(key=spec["key"]).exists():
            continue
        campaign = Campaign.objects.create(topic=topic, status="live", is_default=True, **spec)
        for language, (subject, preheader, body, text) in templates.items():
            Template.objects.create(
                campaign=campaign,
                language=language,
                subject=subject,
                preheader=preheader,
                html=LAYOUT.format(body=body),
                text=text,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("consent", "0003_defaults"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
