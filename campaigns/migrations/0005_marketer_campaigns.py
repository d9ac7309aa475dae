"""Marketers run the campaigns: rules, templates, propositions and the frequency policy;
they read the send and delivery logs (nobody edits those)."""

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant, group_revoke

PERMISSIONS = [
    *(
        f"campaigns.{action}_{model}"
        for model in ("campaign", "template", "proposition", "propositionrule")
        for action in ("view", "add", "change")
    ),
    "campaigns.view_frequencypolicy",
    "campaigns.change_frequencypolicy",
    "campaigns.view_send",
    "campaigns.view_delivery",
]


def grant(apps, schema_editor):
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)


def revoke(apps, schema_editor):
    group_revoke(apps, MARKETER_GROUP, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_proposition_defaults"),
        ("profiles", "0002_marketer_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
