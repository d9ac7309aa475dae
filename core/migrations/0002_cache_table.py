"""The database cache table (used for rate limits and cached figures when no Redis is
configured): created by migrate, so every install works without an extra command."""

from django.core.management import call_command
from django.db import migrations


def forwards(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_api_keys")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
