"""Demo consents for `make run`: confirmed, pending, withdrawn and soft opt-ins, and a few
addresses on the do-not-contact list, spread over the past year."""

import datetime as dt
import random

from django.conf import settings
from django.db import transaction

from core.tokens import token_from_nonce, token_hash, token_nonce
from profiles.models import Profile

from .links import OPT_IN_TOKEN_PURPOSE
from .models import (
    Action,
    ConsentEvent,
    OptInRequest,
    OptInRequestTopic,
    Source,
    SuppressionReason,
    Topic,
)
from .services import ledger_append, suppression_add

DEMO_NOTE = "demo data"
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
]


def _record(
    profile: Profile, topic: Topic, action: str, when: dt.datetime, source: str, rng: random.Random
) -> None:
    ledger_append(
        profile=profile,
        topic=topic,
        action=action,
        now=when,
        source=source,
        ip=f"192.0.2.{rng.randint(1, 254)}",
        user_agent=rng.choice(AGENTS),
        consent_text_id=topic.current_text_id,
        note=DEMO_NOTE,
    )


def _opt_in(
    profile: Profile,
    topic: Topic,
    requested_at: dt.datetime,
    confirmed_at: dt.datetime | None = None,
    also: Topic | None = None,
) -> None:
    """The double opt-in request behind a demo "requested": its mail's link, its topic
    and text, as subscription_request makes them (no mail is sent)."""
    nonce = token_nonce()
    request = OptInRequest.objects.create(
        profile=profile,
        nonce=nonce,
        token_hash=token_hash(token_from_nonce(nonce, OPT_IN_TOKEN_PURPOSE)),
        requested_at=requested_at,
        expires_at=requested_at + dt.timedelta(days=settings.OPT_IN_TTL_DAYS),
        confirmed_at=confirmed_at,
        source=Source.FORM,
        language=profile.language,
    )
    for asked in (topic, also) if also else (topic,):
        OptInRequestTopic.objects.create(
            request=request, topic=asked, consent_text_id=asked.current_text_id
        )


@transaction.atomic
def load_demo_consents(profiles: list[Profile], rng: random.Random, now: dt.datetime) -> str:
    if ConsentEvent.objects.filter(note=DEMO_NOTE).exists():
        return "demo consents already loaded"
    newsletter = Topic.objects.get(key="newsletter")
    service = Topic.objects.get(key="service")
    personalisation = Topic.objects.filter(key="personalisation").first()
    counts = {"confirmed": 0, "pending": 0, "withdrawn": 0, "soft_opt_in": 0, "suppressed": 0}
    for profile in profiles:
        roll = rng.random()
        start = max(profile.created_at, now - dt.timedelta(days=360))
        at = start + (now - start) * rng.random() * 0.8

        if roll < 0.45:
            _record(profile, newsletter, Action.REQUESTED, at, Source.FORM, rng)
            confirmed_at = at + dt.timedelta(minutes=rng.randint(1, 600))
            _record(profile, newsletter, Action.CONFIRMED, confirmed_at, Source.FORM, rng)
            # Many also tick personal recommendations on the same form.
            both = personalisation if personalisation and rng.random() < 0.6 else None
            if both:
                _record(profile, both, Action.REQUESTED, at, Source.FORM, rng)
                _record(profile, both, Action.CONFIRMED, confirmed_at, Source.FORM, rng)
            _opt_in(profile, newsletter, at, confirmed_at, also=both)
            counts["confirmed"] += 1
            if rng.random() < 0.15:
                withdrawn_at = at + dt.timedelta(days=rng.randint(10, 90))
                _record(profile, newsletter, Action.WITHDRAWN, withdrawn_at, Source.ONE_CLICK, rng)
                counts["withdrawn"] += 1
        elif roll < 0.52:
            requested_at = now - dt.timedelta(days=rng.randint(0, 5))
            _record(profile, newsletter, Action.REQUESTED, requested_at, Source.FORM, rng)
            _opt_in(profile, newsletter, requested_at)
            counts["pending"] += 1
        elif roll < 0.70 and profile.order_count:
            granted_at = profile.first_order_at or at
            _record(profile, newsletter, Action.SOFT_OPT_IN, granted_at, Source.ORDER, rng)
            counts["soft_opt_in"] += 1
        if rng.random() < 0.05:
            ledger_append(
                profile=profile,
                topic=service,
                action=Action.WITHDRAWN,
                now=at,
                source=Source.PREFERENCES,
                note=DEMO_NOTE,
            )
    for profile, reason in zip(
        rng.sample(profiles, 6),
        [
            SuppressionReason.HARD_BOUNCE,
            SuppressionReason.HARD_BOUNCE,
            SuppressionReason.COMPLAINT,
            SuppressionReason.UNSUBSCRIBED_ALL,
            SuppressionReason.UNSUBSCRIBED_ALL,
            SuppressionReason.MANUAL,
        ],
        strict=True,
    ):
        suppression_add(
            profile=profile,
            reason=reason,
            now=now - dt.timedelta(days=rng.randint(1, 200)),
            note=DEMO_NOTE,
        )
        counts["suppressed"] += 1
    return ", ".join(f"{n} {k}" for k, n in counts.items())
