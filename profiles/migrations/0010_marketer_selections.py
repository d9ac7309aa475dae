from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant, group_revoke

PERMISSIONS = [
    "profiles.view_selection",
    "profiles.add_selection",
    "profiles.change_selection",
    "profiles.delete_selection",
]


def forwards(apps, schema_editor):
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)


def backwards(apps, schema_editor):
    group_revoke(apps, MARKETER_GROUP, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0009_selections")]

    operations = [migrations.RunPython(forwards, backwards)]
