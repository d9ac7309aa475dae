"""Indexes for the admin's search at a million customers (PostgreSQL): the start of an
address or a name is found through an index instead of reading the whole table."""

from django.db import migrations

INDEXES = {
    "profile_email_prefix": "(lower(email::text)) text_pattern_ops",
    "profile_last_name_prefix": "(upper(last_name::text)) text_pattern_ops",
    "profile_first_name_prefix": "(upper(first_name::text)) text_pattern_ops",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON profiles_profile ({expression})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0006_tokens_made_by_the_mail_task")]

    operations = [migrations.RunPython(forwards, backwards)]
