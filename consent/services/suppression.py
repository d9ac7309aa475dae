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


def suppressions_active_many(profiles: Iterable[Profile]) -> dict[int, list[Suppression]]:
    """suppressions_active for many customers in one query: per profile id (only those
    with any), the entries that apply, the one that counts first (a hard bounce, as it
    also stops transactional mail; then the newest)."""
    hashes = {p.pk: address_hash(p.email) for p in profiles}
    if not hashes:
        return {}
    by_hash: dict[str, list[Suppression]] = {}
    by_profile: dict[int, list[Suppression]] = {}
    for suppression in Suppression.objects.filter(lifted_at=None).filter(
        Q(email_hash__in=set(hashes.values()))
        | (Q(profile_id__in=list(hashes)) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
    ):
        by_hash.setdefault(suppression.email_hash, []).append(suppression)
        if suppression.reason != SuppressionReason.HARD_BOUNCE and suppression.profile_id:
            by_profile.setdefault(suppression.profile_id, []).append(suppression)
    found: dict[int, list[Suppression]] = {}
    for profile_id, email_hash in hashes.items():
        applying = {s.pk: s for s in by_hash.get(email_hash, [])}
        applying.update((s.pk, s) for s in by_profile.get(profile_id, []))
        if applying:
            ordered = sorted(applying.values(), key=lambda s: s.created_at, reverse=True)
            ordered.sort(key=lambda s: s.reason != SuppressionReason.HARD_BOUNCE)
            found[profile_id] = ordered
    return found


def suppressed_profile_ids(profiles: Iterable[Profile]) -> set[int]:
    """Which of these customers have an active suppression (one query)."""
    return set(suppressions_active_many(profiles))


def suppression_active(profile: Profile) -> Suppression | None:
    """The do-not-contact entry that applies to this customer or address, if any (a hard
    bounce first: it also stops transactional mail)."""
    return suppressions_active_many([profile]).get(profile.pk, [None])[0]


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
