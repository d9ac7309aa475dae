"""The Marketer group: find, edit, import and export customers; no deleting them.

Later apps add their own permissions to this group in their own migrations.
"""

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant, group_revoke

PERMISSIONS = [
    "profiles.view_profile",
    "profiles.add_profile",
    "profiles.change_profile",
    "profiles.view_profilechange",
    "profiles.view_importjob",
]


def forwards(apps, schema_editor):
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)


def backwards(apps, schema_editor):
    group_revoke(apps, MARKETER_GROUP, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
