"""The sunset rule (off until a marketer switches it on) and its "do you still want our
mail?" message in Dutch and English."""

import datetime as dt

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant

NL = (
    "Wilt u onze mail nog ontvangen?",
    "Eén klik is genoeg.",
    "<h1>Wilt u onze mail nog ontvangen?</h1>"
    "<p>Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %}, we zien dat u onze "
    "mails al een tijd niet meer opent. We willen u niet lastigvallen: wilt u ze blijven ontvangen?</p>"
    '<p><a class="button" href="{{ links.preferences_url }}?keep=1#sunset">Ja, blijf mij mailen</a></p>'
    "<p>Hoort u niets van u, dan sturen we u na twee weken geen aanbiedingen en nieuws meer. "
    "U kunt dat altijd terugdraaien op uw voorkeurenpagina.</p>",
    "Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
    "we zien dat u onze mails al een tijd niet meer opent. Wilt u ze blijven ontvangen?\n"
    "Ja, blijf mij mailen: {{ links.preferences_url }}?keep=1#sunset\n\n"
    "Hoort u niets van u, dan sturen we u na twee weken geen aanbiedingen en nieuws meer.\n",
)
EN = (
    "Do you still want our mail?",
    "One click is enough.",
    "<h1>Do you still want our mail?</h1>"
    "<p>Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %}, we notice you have "
    "not opened our mails for a while. We do not want to bother you: shall we keep sending them?</p>"
    '<p><a class="button" href="{{ links.preferences_url }}?keep=1#sunset">Yes, keep mailing me</a></p>'
    "<p>If we do not hear from you, we will stop sending offers and news in two weeks. "
    "You can always turn them back on from your preferences page.</p>",
    "Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
    "we notice you have not opened our mails for a while. Shall we keep sending them?\n"
    "Yes, keep mailing me: {{ links.preferences_url }}?keep=1#sunset\n\n"
    "If we do not hear from you, we will stop sending offers and news in two weeks.\n",
)


def create(apps, schema_editor):
    Topic = apps.get_model("consent", "Topic")
    Campaign = apps.get_model("campaigns", "Campaign")
    Template = apps.get_model("campaigns", "Template")
    SunsetPolicy = apps.get_model("campaigns", "SunsetPolicy")
    group_grant(
        apps,
        MARKETER_GROUP,
        ["campaigns.view_sunsetpolicy", "campaigns.change_sunsetpolicy"],
    )
    if not SunsetPolicy.objects.exists():
        SunsetPolicy.objects.create(active=False, mails=10, days=180, grace_days=14)
    topic = Topic.objects.filter(key="service").first()
    if topic is None or Campaign.objects.filter(key="sunset").exists():
        return
    campaign = Campaign.objects.create(
        key="sunset",
        name="Wilt u onze mail nog?",
        topic=topic,
        trigger="sunset",
        status="live",
        is_default=True,
        reentry="each",
        priority=80,
        late_cutoff=dt.timedelta(days=3),
    )
    for language, (subject, preheader, body, text) in (("nl", NL), ("en", EN)):
        Template.objects.create(
            campaign=campaign,
            language=language,
            subject=subject,
            preheader=preheader,
            html="<html><body>" + body + "</body></html>",
            text=text,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_sunset"),
        ("consent", "0007_sunset"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
