"""Erasure (GDPR art. 17): a customer's personal data goes everywhere it is held."""

import datetime as dt
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from .. import registry
from ..models import (
    Profile,
    ProfileChange,
    WebhookEvent,
)
from ..webhooks import webhooks_emit, webhooks_erase


@transaction.atomic
def history_erase(*, profile: Profile) -> int:
    """Scrub the personal values from a profile's change history; returns rows scrubbed.

    Which fields changed, when and through what stays (the audit trail); what they
    changed from and to does not.
    """
    scrubbed = 0
    for change in profile.changes.filter(erased=False).only("pk", "changes"):
        change.changes = {field: [None, None] for field in change.changes}
        change.erased = True
        change.note = ""
        change.save(update_fields=["changes", "erased", "note"])
        scrubbed += 1
    return scrubbed


def admin_log_erase(*, profile: Profile) -> int:
    """Scrub the admin's "recent actions" about the profile: the entry's label (the
    customer's user id) and its message go; who did what, and when, stays."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Profile), object_id=str(profile.pk)
    ).update(object_repr="erased", change_message="")


# Fields blanked on erasure; value figures stay, anonymous, so campaign reports stay whole.
ERASED_FIELDS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "birth_date": None,
    "phone": "",
    "street": "",
    "house_number": "",
    "postal_code": "",
    "city": "",
    "country": "",
    "acquisition_source": "",
    "custom_attributes": {},
    "timezone": "Europe/Amsterdam",
}


@transaction.atomic
def profile_erase(
    *, profile: Profile, now: dt.datetime, source: str, actor: User | None = None
) -> Profile:
    """Erase the person (GDPR art. 17): personal data goes everywhere it is held.

    Every registered eraser runs (the consent app keeps only a keyed hash of the
    address, the date and the reason, so the person is never re-added as contactable;
    profiles' own scrubs the kept imports), the change history and the admin's log
    entries about the profile are scrubbed, and the profile becomes an empty tombstone with a new
    random key, so every old self-service link stops working. Erasing twice is harmless.
    """
    profile = Profile.objects.select_for_update().get(pk=profile.pk)
    if profile.erased_at:
        return profile
    email, user_id = profile.email, profile.user_id
    for eraser in registry.erasers.values():
        eraser(profile, now, email)
    history_erase(profile=profile)
    admin_log_erase(profile=profile)
    webhooks_erase(profile=profile)
    profile.email_change_requests.all().delete()
    marker = uuid.uuid4().hex
    for field, value in ERASED_FIELDS.items():
        setattr(profile, field, value)
    profile.user_id = f"erased-{marker}"
    profile.email = f"{marker}@erased.invalid"
    profile.public_id = uuid.uuid4()
    profile.erased_at = now
    profile.save(
        update_fields=[*ERASED_FIELDS, "user_id", "email", "public_id", "erased_at", "updated_at"]
    )
    ProfileChange.objects.create(
        profile=profile,
        changed_at=now,
        source=source,
        actor=actor,
        changes={},
        erased=True,
        note="personal data erased",
    )
    # The shop's systems hear which of their customers to erase, by their own key.
    webhooks_emit(
        WebhookEvent.PROFILE_ERASED,
        profile=profile,
        data={"user_id": user_id},
        source=source,
        now=now,
    )
    return profile
