"""The send-time re-check reads its facts for a whole batch at once: it must answer exactly
as consent's per-mail `send_permission` does, and its cost must not grow per mail."""

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import handover
from campaigns.models import Send
from campaigns.recheck import PermissionFacts
from campaigns.sending import sends_claim, sends_process
from campaigns.triggers import sends_schedule
from consent.models import (
    ConsentState,
    ContactPreference,
    Status,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.selectors import address_hash, send_permission
from profiles.models import Profile
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, product, track

pytestmark = pytest.mark.django_db

# 23:30 UTC: already 24 November in Amsterdam and Kiritimati, still 23 November in Los
# Angeles and for an unknown zone (the UTC date), so a pause "until the 23rd" differs.
NOW = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
ZONES = ["Europe/Amsterdam", "Pacific/Kiritimati", "America/Los_Angeles", "Nowhere/Land"]


def _suppress(profile: Profile, case: str) -> list[Suppression]:
    """Do-not-contact entries for one case: by the person, by the address, lifted, old."""
    mine, elsewhere = address_hash(profile.email), address_hash(f"old-{profile.email}")
    day = dt.timedelta(days=1)

    def entry(reason: str, digest: str, linked: bool = True, **more) -> Suppression:
        return Suppression(
            email_hash=digest,
            profile=profile if linked else None,
            reason=reason,
            created_at=more.pop("created_at", NOW - 10 * day),
            **more,
        )

    return {
        "none": [],
        "complaint": [entry(SuppressionReason.COMPLAINT, elsewhere)],
        "bounced address": [entry(SuppressionReason.HARD_BOUNCE, mine)],
        "bounced address, unlinked": [entry(SuppressionReason.HARD_BOUNCE, mine, linked=False)],
        # A bounce stays with the old address when the customer changed theirs.
        "bounced old address": [entry(SuppressionReason.HARD_BOUNCE, elsewhere)],
        "unsubscribed": [entry(SuppressionReason.UNSUBSCRIBED_ALL, mine)],
        "lifted": [entry(SuppressionReason.COMPLAINT, mine, lifted_at=NOW - day)],
        "all and bounced": [
            entry(SuppressionReason.UNSUBSCRIBED_ALL, elsewhere, created_at=NOW - day),
            entry(SuppressionReason.HARD_BOUNCE, mine, linked=False, created_at=NOW - 20 * day),
        ],
        "manual, then complaint": [
            entry(SuppressionReason.MANUAL, elsewhere, created_at=NOW - 20 * day),
            entry(SuppressionReason.COMPLAINT, mine, created_at=NOW - 2 * day),
        ],
    }[case]


PREFERENCES = {
    "none": None,
    "paused until the 23rd": {"paused_until": dt.date(2026, 11, 23)},
    "paused until the 24th": {"paused_until": dt.date(2026, 11, 24)},
    "no service mail": {"no_service_mail": True},
    "sunset": {"sunset_at": NOW - dt.timedelta(days=3)},
    "weekly": {"max_frequency": "weekly"},
}
STATES = {
    "no row": None,
    "none": {"status": Status.NONE},
    "pending": {"status": Status.PENDING},
    "double opt-in": {"status": Status.CONFIRMED, "basis": "double_opt_in"},
    "soft opt-in": {"status": Status.CONFIRMED, "basis": "soft_opt_in"},
    "withdrawn": {"status": Status.WITHDRAWN},
}
SUPPRESSIONS = [
    "none",
    "complaint",
    "bounced address",
    "bounced address, unlinked",
    "bounced old address",
    "unsubscribed",
    "lifted",
    "all and bounced",
    "manual, then complaint",
]


def test_the_batch_answers_as_send_permission_for_every_state(django_assert_num_queries):
    topics = [
        Topic.objects.get(key="transactional"),
        Topic.objects.get(key="service"),
        Topic.objects.create(
            key="acties", name_nl="Acties", name_en="Offers", category="commercial"
        ),
        Topic.objects.create(
            key="klantacties",
            name_nl="Klantacties",
            name_en="Customer offers",
            category="commercial",
            soft_opt_in_allowed=True,
        ),
    ]
    suppressions, preferences, states = [], [], []
    cases = list(itertools.product(SUPPRESSIONS, PREFERENCES, STATES))
    for n, (suppression, preference, state) in enumerate(cases):
        profile = ProfileFactory(timezone=ZONES[n % len(ZONES)])
        suppressions += _suppress(profile, suppression)
        if PREFERENCES[preference] is not None:
            preferences.append(ContactPreference(profile=profile, **PREFERENCES[preference]))
        if STATES[state] is not None:
            states += [
                ConsentState(profile=profile, topic=topic, updated_at=NOW, **STATES[state])
                for topic in topics
            ]
    erased = ProfileFactory(erased_at=NOW - dt.timedelta(days=1))
    states += [
        ConsentState(profile=erased, topic=topic, updated_at=NOW, status=Status.CONFIRMED)
        for topic in topics
    ]
    Suppression.objects.bulk_create(suppressions)
    ContactPreference.objects.bulk_create(preferences)
    ConsentState.objects.bulk_create(states)
    profiles = list(Profile.objects.select_related("contact_preference").order_by("pk"))

    with django_assert_num_queries(2):  # suppressions, permissions: for all of them
        facts = PermissionFacts.gather(profiles, [t.pk for t in topics], NOW)
    answers = {}
    with django_assert_num_queries(0):
        for profile, topic in itertools.product(profiles, topics):
            answers[(profile.pk, topic.key)] = facts.permission(profile, topic)

    differ = [
        (key, batch, expected)
        for key, batch in answers.items()
        if batch
        != (
            expected := send_permission(
                profile=Profile.objects.get(pk=key[0]),
                topic=next(t for t in topics if t.key == key[1]),
                now=NOW,
            )
        )
    ]
    assert differ == []
    # The matrix reaches every answer send_permission can give.
    assert {(a.allowed, a.reason, a.basis) for a in answers.values()} == {
        (True, "", ""),
        (True, "", "double_opt_in"),
        (True, "", "soft_opt_in"),
        (False, "erased", ""),
        (False, "suppressed:hard_bounce", ""),
        (False, "suppressed:complaint", ""),
        (False, "suppressed:unsubscribed_all", ""),
        (False, "paused", ""),
        (False, "no_service_mail", ""),
        (False, "withdrawn", ""),
        (False, "sunset", ""),
        (False, "soft_opt_in_not_allowed", ""),
        (False, "no_consent", ""),
    }


def _batch(customers: int, now: dt.datetime) -> tuple[int, dict[str, int]]:
    """`customers` new customers with a welcome due at `now`, and as many with a basket
    left behind (an exit event to check) and an order 30 days ago (the cross-sell, which
    reads its order): statements and outcome of processing them as one batch."""
    for n in range(customers):
        confirm(ProfileFactory(), when=now - dt.timedelta(minutes=5))
        shopper = ProfileFactory()
        confirm(shopper, when=now - dt.timedelta(days=60))
        order = now - dt.timedelta(days=30)
        track(shopper, "Order Completed", order, order_id=f"O{n}", products=[product()])
        track(shopper, "Product Added", now - dt.timedelta(hours=25), **product("SH-7"))
    sends_schedule(now=now)
    claim = sends_claim(now=now)
    assert claim is not None
    with CaptureQueriesContext(connection) as queries:
        counts = sends_process(claim, now=now)
    return len(queries), counts


def test_a_batch_costs_a_fixed_number_of_statements_plus_a_handed_over_mark_per_few_mails(
    monkeypatch,
):
    monkeypatch.setattr(handover, "HANDOVER_CHUNK", 4)
    only_campaigns("welcome", "abandoned-basket", "cross-sell")
    small, small_counts = _batch(3, at())
    Send.objects.filter(status="scheduled").delete()  # the deferred cross-sells
    # Three times the customers, two weeks later (the first ones are past their mails).
    large, large_counts = _batch(9, at(days=14))

    # Each customer gets one mail (the shoppers' cross-sell waits for the cap).
    assert small_counts == {"sent": 6, "deferred:capped": 3}
    assert large_counts == {"sent": 18, "deferred:capped": 9}
    # 12 more mails, 3 more chunks of 4 (6 mails: 2 chunks, 18 mails: 5), and per chunk a
    # fixed 6 statements, nothing per mail: in one transaction (a savepoint and its
    # release inside the test's own) the chunk before is recorded (its deliveries
    # accepted, its sends sent) and this one marked handed over and given its delivery
    # rows.
    assert large - small == 3 * 6
