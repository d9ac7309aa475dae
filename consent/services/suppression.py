"""Do-not-contact: hard bounces, complaints, "unsubscribe from everything", erasures and
staff decisions, keyed by a keyed hash of the address."""

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from profiles.models import Profile

from ..models import Suppression, SuppressionReason


def address_hash(email: str) -> str:
    """The keyed hash (HMAC-SHA256) by which suppression knows an address."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def suppressions_active(profile: Profile) -> QuerySet[Suppression]:
    # A hard bounce belongs to the address; the others to the person, whatever address
    # they have now.
    return Suppression.objects.filter(lifted_at=None).filter(
        Q(email_hash=address_hash(profile.email))
        | (Q(profile=profile) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
    )


def suppressed_profile_ids(profiles: Iterable[Profile]) -> set[int]:
    """Which of these customers have an active suppression (suppressions_active for many,
    in one query)."""
    by_hash: dict[str, list[int]] = {}
    ids = set()
    for profile in profiles:
        by_hash.setdefault(address_hash(profile.email), []).append(profile.pk)
        ids.add(profile.pk)
    if not ids:
        return set()
    found: set[int] = set()
    for email_hash, profile_id, reason in (
        Suppression.objects.filter(lifted_at=None)
        .filter(
            Q(email_hash__in=list(by_hash))
            | (Q(profile_id__in=ids) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
        )
        .values_list("email_hash", "profile_id", "reason")
    ):
        found.update(by_hash.get(email_hash, ()))
        if profile_id in ids and reason != SuppressionReason.HARD_BOUNCE:
            found.add(profile_id)
    return found


def suppression_active(profile: Profile) -> Suppression | None:
    """The do-not-contact entry that applies to this customer or address, if any (a hard
    bounce first: it also stops transactional mail)."""
    found = list(suppressions_active(profile))
    found.sort(key=lambda s: s.reason != SuppressionReason.HARD_BOUNCE)
    return found[0] if found else None


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
