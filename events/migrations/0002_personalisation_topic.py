"""The personalisation topic: permission to use what a customer browses (derived data,
such as interests inferred from viewed products). Without it, only facts (orders,
baskets) and what the customer told us are used."""

from django.db import migrations


def forwards(apps, schema_editor):
    Topic = apps.get_model("consent", "Topic")
    ConsentText = apps.get_model("consent", "ConsentText")
    topic, created = Topic.objects.get_or_create(
        key="personalisation",
        defaults={
            "category": "commercial",
            "soft_opt_in_allowed": False,
            "position": 20,
            "name_nl": "Persoonlijke aanbevelingen",
            "name_en": "Personal recommendations",
            "description_nl": "Aanbevelingen op basis van wat u op onze site bekijkt.",
            "description_en": "Recommendations based on what you look at on our site.",
        },
    )
    if created:
        text = ConsentText.objects.create(
            topic=topic,
            version=1,
            text_nl=(
                "Ja, gebruik wat ik op de site bekijk om mijn mails en aanbiedingen op mij af "
                "te stemmen. Ik kan dit altijd intrekken."
            ),
            text_en=(
                "Yes, use what I look at on the site to tailor my mails and offers to me. I "
                "can withdraw this at any time."
            ),
        )
        topic.current_text = text
        topic.save(update_fields=["current_text"])


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial"), ("consent", "0003_defaults")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
