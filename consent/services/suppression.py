"""Do-not-contact: hard bounces, complaints, "unsubscribe from everything", erasures and
staff decisions, keyed by a keyed hash of the address."""

import datetime as dt

from django.db import transaction

from profiles.models import Profile

from ..models import Suppression, SuppressionReason
from ..selectors import address_hash


def suppressions_follow_addresses(profiles: list[Profile]) -> None:
    """Keep each suppression's profile link true to who has the address now (registered
    as an address hook), so SQL selections can ask by profile: an erased or bounced
    address that comes back is linked to its new profile; a bounce stays behind with the
    old address when a customer changes theirs. A few queries for any number of profiles
    (an import calls this per chunk)."""
    by_hash = {address_hash(p.email): p for p in profiles}
    for suppression in Suppression.objects.filter(
        email_hash__in=list(by_hash), profile=None, lifted_at=None
    ):
        suppression.profile = by_hash[suppression.email_hash]
        suppression.save(update_fields=["profile"])
    Suppression.objects.filter(
        profile__in=[p.pk for p in profiles if p.pk], reason=SuppressionReason.HARD_BOUNCE
    ).exclude(email_hash__in=list(by_hash)).update(profile=None)


@transaction.atomic
def suppression_add(
    *,
    reason: str,
    now: dt.datetime,
    profile: Profile | None = None,
    email: str | None = None,
    note: str = "",
) -> Suppression:
    """Put a customer (or a bare address) on the do-not-contact list; idempotent per reason."""
    if profile is None and not email:
        raise ValueError("a profile or an address is needed")
    digest = address_hash(email or profile.email)  # type: ignore[union-attr]
    existing = Suppression.objects.filter(email_hash=digest, reason=reason, lifted_at=None).first()
    if existing:
        return existing
    return Suppression.objects.create(
        email_hash=digest, profile=profile, reason=reason, created_at=now, note=note[:200]
    )


def suppression_lift(*, suppression: Suppression, now: dt.datetime, because: str) -> None:
    suppression.lifted_at = now
    suppression.lifted_because = because[:200]
    suppression.save(update_fields=["lifted_at", "lifted_because"])
