"""Add public_id: nullable first, a distinct random value per existing row, then unique."""

import uuid

from django.db import migrations, models


def fill_public_ids(apps, schema_editor):
    Profile = apps.get_model("profiles", "Profile")
    batch = []
    for pk in Profile.objects.filter(public_id=None).values_list("pk", flat=True).iterator():
        batch.append(Profile(pk=pk, public_id=uuid.uuid4()))
        if len(batch) >= 5000:
            Profile.objects.bulk_update(batch, ["public_id"])
            batch = []
    Profile.objects.bulk_update(batch, ["public_id"])


class Migration(migrations.Migration):
    dependencies = [("profiles", "0002_marketer_group")]

    operations = [
        migrations.AddField(
            model_name="profile", name="public_id", field=models.UUIDField(null=True, editable=False)
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="profile",
            name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="profile",
            name="erased_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="erased"),
        ),
    ]
