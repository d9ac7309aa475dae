"""A starting product/proposition matrix and the fallback proposition, so the cross-sell
has something to offer on a fresh install; marketers replace them in the admin."""

from django.db import migrations

PROPOSITIONS = [
    {
        "key": "care",
        "title_nl": "Houd uw nieuwe schoenen mooi",
        "title_en": "Keep your new shoes looking good",
        "text_nl": "Met de juiste verzorging gaan leren en suède schoenen jaren mee.",
        "text_en": "With the right care, leather and suede shoes last for years.",
        "url": "https://shop.example.nl/c/verzorging",
        "offers_category": "accessoires",
        "rules": [{"category": "schoenen"}],
    },
    {
        "key": "scarf",
        "title_nl": "De sjaal bij uw jas",
        "title_en": "The scarf for your coat",
        "text_nl": "Warme wollen sjaals in de kleuren van dit seizoen.",
        "text_en": "Warm wool scarves in this season's colours.",
        "url": "https://shop.example.nl/c/sjaals",
        "offers_category": "accessoires",
        "rules": [{"category": "jassen"}],
    },
    {
        "key": "new-in",
        "title_nl": "Nieuw binnen, speciaal voor u",
        "title_en": "New in, picked for you",
        "text_nl": "Bekijk de nieuwste collectie: elke week komen er nieuwe artikelen bij.",
        "text_en": "See the latest collection: new items arrive every week.",
        "url": "https://shop.example.nl/nieuw",
        "is_default": True,
        "rules": [],
    },
]


def create(apps, schema_editor):
    Proposition = apps.get_model("campaigns", "Proposition")
    PropositionRule = apps.get_model("campaigns", "PropositionRule")
    if Proposition.objects.exists():
        return
    for spec in PROPOSITIONS:
        spec = dict(spec)
        rules = spec.pop("rules")
        proposition = Proposition.objects.create(**spec)
        for rule in rules:
            PropositionRule.objects.create(proposition=proposition, **rule)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_propositions")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
