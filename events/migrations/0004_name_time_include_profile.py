"""The (name, timestamp) index also carries the profile, so a selection's event
conditions read the index alone (bench/selections.py: "no order for 180 days" 1.07 →
0.49 s on 10M events). The new index is built before the old one goes, so queries
keep an index throughout."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_marketer_reads_events"),
        ("profiles", "0012_webhooks"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["name", "timestamp"], include=("profile",), name="event_name_time_profile"
            ),
        ),
        migrations.RemoveIndex(model_name="event", name="event_name_time"),
    ]
