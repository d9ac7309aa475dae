"""The consent side of erasure (GDPR art. 17)."""

import datetime as dt

from profiles.models import Profile

from ..models import ConsentEvent, ContactPreference, OptInRequest, Suppression, SuppressionReason
from ..selectors import address_hash
from .ledger import ledger_scrub


def consent_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Registered with profiles.registry: keep only keyed hashes of every address the
    person gave permission under (the current one and earlier ones), the date and the
    reason; scrub the ledger's personal columns, staff notes and preferences."""
    addresses = {email.strip().lower()} | {
        a.strip().lower()
        for a in ConsentEvent.objects.filter(profile=profile)
        .exclude(email="")
        .values_list("email", flat=True)
    }
    ledger_scrub(profile=profile)
    Suppression.objects.filter(profile=profile).update(profile=None, note="", lifted_because="")
    for address in sorted(addresses):
        digest = address_hash(address)
        if not Suppression.objects.filter(
            email_hash=digest, reason=SuppressionReason.ERASED, lifted_at=None
        ).exists():
            Suppression.objects.create(
                email_hash=digest, profile=None, reason=SuppressionReason.ERASED, created_at=now
            )
    ContactPreference.objects.filter(profile=profile).delete()
    OptInRequest.objects.filter(profile=profile).delete()
