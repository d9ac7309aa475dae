"""Addresses with an internationalised domain in one spelling: the ASCII one (punycode).

Until now "jan@bücher.de" and "jan@xn--bcher-kva.de" were two customers and two entries
on the do-not-contact list. A stored address with a non-ASCII domain is rewritten to its
ASCII spelling (unless another customer already has that spelling), and the suppressions
keyed by the hash of the old spelling are keyed by the new one. An erased person's
address is not known any more: an entry left from one keeps the old spelling's hash."""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations


def _hash(email: str) -> str:
    key = settings.SUPPRESSION_HASH_KEY.encode()
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


def _ascii(email: str) -> str | None:
    local, _at, domain = email.rpartition("@")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None


def forwards(apps, schema_editor):
    Profile = apps.get_model("profiles", "Profile")
    Suppression = apps.get_model("consent", "Suppression")
    for profile in Profile.objects.filter(email__regex=r"[^\x00-\x7f]").iterator():
        old = profile.email.strip().lower()
        new = _ascii(old)
        if new is None or new == old or Profile.objects.filter(email__iexact=new).exists():
            continue
        Profile.objects.filter(pk=profile.pk).update(email=new)
        Suppression.objects.filter(email_hash=_hash(old)).update(email_hash=_hash(new))


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0007_sunset"),
        ("profiles", "0012_webhooks"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
