"""Marketers browse the events (read-only: events are facts the shop reported)."""

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant, group_revoke

PERMISSIONS = ["events.view_event"]


def grant(apps, schema_editor):
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)


def revoke(apps, schema_editor):
    group_revoke(apps, MARKETER_GROUP, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_personalisation_topic"),
        ("profiles", "0002_marketer_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
