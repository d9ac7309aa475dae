"""Two indexes fewer on the events table: one index write less per event for each
(bench/ingest.py).

- message_id keeps its unique index (what makes a repeated call store nothing), but not
  the second, varchar_pattern_ops index Django adds to a unique text field for LIKE
  searches: message ids are only ever looked up exactly (the admin's search too).
- profile_id loses its single-column index: event_profile_name_time starts with the
  column and serves every look-up by profile, and the cascade of a profile's deletion.

On PostgreSQL the unique constraint is renamed, not rebuilt, and the profile index is
dropped by name: Django's own AlterField would drop and re-add the foreign key, checking
every event under a lock that stops ingest. So this takes moments on a table of any
size. SQLite keeps the column's own UNIQUE and index (the same rules; a development
database).
"""

import django.db.models.deletion
from django.db import migrations, models

LIKE_INDEX = "events_event_message_id_a8ad4819_like"
PROFILE_INDEX = "events_event_profile_id_60d5afe4"


def indexes_trim(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")
    schema_editor.execute(f"DROP INDEX IF EXISTS {PROFILE_INDEX}")
    schema_editor.execute(
        "ALTER TABLE events_event RENAME CONSTRAINT events_event_message_id_key"
        " TO event_message_id_unique"
    )


def indexes_restore(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE events_event RENAME CONSTRAINT event_message_id_unique"
        " TO events_event_message_id_key"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON events_event (message_id varchar_pattern_ops)"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {PROFILE_INDEX} ON events_event (profile_id)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0004_name_time_include_profile"),
        ("profiles", "0012_webhooks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(indexes_trim, indexes_restore, elidable=False)
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="message_id",
                    field=models.CharField(max_length=100),
                ),
                migrations.AddConstraint(
                    model_name="event",
                    constraint=models.UniqueConstraint(
                        fields=("message_id",), name="event_message_id_unique"
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="profile",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="profiles.profile",
                    ),
                ),
            ],
        ),
    ]
