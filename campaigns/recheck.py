"""Step 3 of the scheduler: check a claimed batch again at send time.

What the check reads is fetched for the whole batch in a handful of set-based queries
(`BatchFacts.gather`): do-not-contact entries, the customers' contact preferences,
their permissions per topic (soft opt-ins included), open baskets, the latest exit events,
the selections and the recent mail log. The rules then run per send on those facts,
in `decide`, the one place that says whether a send goes, waits or is skipped, and why.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Max

from consent.models import (
    Category,
    ConsentState,
    ContactPreference,
    Frequency,
    Suppression,
    Topic,
)
from consent.selectors import Permission, permission_decide, suppressions_active_many
from core.clock import customer_local
from events.models import Event
from profiles.models import Profile
from profiles.selections import selection_profiles

from .models import Campaign, Delivery, FrequencyPolicy, Reason, Send, TriggerKind
from .rendering import profile_activity
from .triggers import due_offset

PERMISSION_REASONS = {
    "erased": Reason.ERASED,
    "paused": Reason.PAUSED,
    "no_service_mail": Reason.NO_SERVICE_MAIL,
    "withdrawn": Reason.WITHDRAWN,
    "no_consent": Reason.NO_CONSENT,
    "soft_opt_in_not_allowed": Reason.NO_CONSENT,
    "sunset": Reason.SUNSET,
}
CUSTOMER_CAPS = {
    Frequency.WEEKLY: (1, dt.timedelta(days=7)),
    Frequency.MONTHLY: (1, dt.timedelta(days=30)),
}


@dataclass
class Decision:
    action: str  # send, skip, defer
    reason: str = ""
    due_at: dt.datetime | None = None


def _contact_preference(profile: Profile) -> ContactPreference | None:
    try:
        return profile.contact_preference  # type: ignore[no-any-return]
    except ContactPreference.DoesNotExist:
        return None


class _Frequency:
    """The mails each customer in a batch already got, to cap what this batch adds."""

    def __init__(self, profile_ids: list[int], choice: dict[int, str], now: dt.datetime) -> None:
        self.policy = FrequencyPolicy.current()
        self.now = now
        self.choice = choice
        self.sent: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
        for pid, category, at in Delivery.objects.filter(
            profile_id__in=profile_ids,
            category__in=[Category.COMMERCIAL, Category.SERVICE],
            sent_at__gte=now - dt.timedelta(days=30),
        ).values_list("profile_id", "category", "sent_at"):
            self.sent[(pid, category)].append(at)

    def caps(self, profile_id: int, category: str) -> list[tuple[int, dt.timedelta]]:
        if category == Category.TRANSACTIONAL:
            return []
        if category == Category.SERVICE and not self.policy.cap_service:
            return []
        caps = [
            (self.policy.max_per_day, dt.timedelta(hours=24)),
            (self.policy.max_per_week, dt.timedelta(days=7)),
        ]
        if category == Category.COMMERCIAL and self.choice.get(profile_id) in CUSTOMER_CAPS:
            caps.append(CUSTOMER_CAPS[Frequency(self.choice[profile_id])])
        return caps

    def free_at(self, profile_id: int, category: str) -> dt.datetime | None:
        """None when a mail may go now; else when the first slot frees up."""
        latest: dt.datetime | None = None
        sent = sorted(self.sent[(profile_id, category)])
        for limit, period in self.caps(profile_id, category):
            recent = [at for at in sent if at > self.now - period]
            if len(recent) >= limit:
                frees = recent[len(recent) - limit] + period if limit else self.now + period
                latest = max(latest, frees) if latest else frees
        return latest

    def count(self, profile_id: int, category: str) -> None:
        """A mail this batch sends: the next send to the customer sees it."""
        self.sent[(profile_id, category)].append(self.now)


@dataclass
class PermissionFacts:
    """What consent.selectors.send_permission reads, for a set of customers and topics:
    their active do-not-contact entries and their permissions."""

    now: dt.datetime
    # Active do-not-contact entries per profile id, the one that counts first.
    suppressions: dict[int, list[Suppression]]
    consents: dict[tuple[int, int], ConsentState]

    @classmethod
    def gather(
        cls, profiles: Iterable[Profile], topic_ids: Iterable[int], now: dt.datetime
    ) -> "PermissionFacts":
        """Two queries, whatever the number of customers."""
        profiles = list(profiles)
        consents = {
            (state.profile_id, state.topic_id): state
            for state in ConsentState.objects.filter(
                profile_id__in=[p.pk for p in profiles], topic_id__in=set(topic_ids)
            )
        }
        return cls(now, suppressions_active_many(profiles), consents)

    def suppression(self, profile: Profile) -> Suppression | None:
        """As consent.selectors.suppression_active, from these facts."""
        return self.suppressions.get(profile.pk, [None])[0]

    def permission(self, profile: Profile, topic: Topic) -> Permission:
        """consent.selectors.send_permission, answered from these facts (the same rules:
        permission_decide) without its three queries per mail. The contact preference
        comes with the profile (`select_related("contact_preference")`)."""
        return permission_decide(
            profile=profile,
            topic=topic,
            now=self.now,
            suppression=self.suppression(profile),
            preference=_contact_preference(profile),
            state=self.consents.get((profile.pk, topic.pk)),
        )


@dataclass
class BatchFacts:
    """What the re-check of one batch reads, fetched once for all its sends."""

    now: dt.datetime
    permissions: PermissionFacts
    # The latest exit event per (profile, event name) after the batch's earliest trigger.
    latest_exit: dict[tuple[int, str], dt.datetime]
    # The events that made `event:<id>` sends (the order a cross-sell is about).
    trigger_events: dict[int, Event]
    # Per campaign with conditions: who in the batch still matches them.
    selected: dict[int, set[int]]
    frequency: _Frequency

    @classmethod
    def gather(cls, sends: list[Send], now: dt.datetime) -> "BatchFacts":
        """The facts for `sends`, loaded with `select_related("campaign__topic",
        "campaign__selection", "profile__contact_preference", "profile__activity")`:
        a query each for suppressions, permissions, exit events, trigger events, the
        mail log and the frequency policy, and one per campaign with conditions."""
        profiles = {s.profile_id: s.profile for s in sends}
        ids = list(profiles)
        leaving = [s for s in sends if s.campaign.exit_events]
        latest_exit: dict[tuple[int, str], dt.datetime] = {}
        if leaving:
            for pid, name, latest in (
                Event.objects.filter(
                    profile_id__in={s.profile_id for s in leaving},
                    name__in={name for s in leaving for name in s.campaign.exit_events},
                    timestamp__gt=min(s.trigger_at for s in leaving),
                    timestamp__lte=now,
                )
                .values("profile_id", "name")
                .annotate(latest=Max("timestamp"))
                .values_list("profile_id", "name", "latest")
            ):
                latest_exit[(pid, name)] = latest
        event_ids = [
            int(s.occurrence.removeprefix("event:"))
            for s in sends
            if s.occurrence.startswith("event:") and s.occurrence.removeprefix("event:").isdigit()
        ]
        selected: dict[int, set[int]] = {}
        for campaign in {s.campaign for s in sends if s.campaign.selection_id}:
            assert campaign.selection is not None  # noqa: S101 - filtered above
            selected[campaign.pk] = set(
                selection_profiles(campaign.selection.definition, now=now)
                .filter(pk__in=ids)
                .values_list("pk", flat=True)
            )
        choice = {
            pid: preference.max_frequency
            for pid, profile in profiles.items()
            if (preference := _contact_preference(profile)) is not None
        }
        return cls(
            now=now,
            permissions=PermissionFacts.gather(
                profiles.values(), {s.campaign.topic_id for s in sends}, now
            ),
            latest_exit=latest_exit,
            trigger_events=Event.objects.in_bulk(event_ids) if event_ids else {},
            selected=selected,
            frequency=_Frequency(ids, choice, now),
        )

    def exited(self, send: Send) -> bool:
        """The customer left the campaign after the trigger: an exit event, an emptied or
        changed basket, a newer order ending a lapse."""
        campaign = send.campaign
        if campaign.trigger == TriggerKind.BASKET:
            activity = profile_activity(send.profile)
            # Emptied, or changed again since (a later occurrence will come at its own time).
            if (
                activity is None
                or not activity.basket
                or activity.last_basket_at != send.trigger_at
            ):
                return True
        if (
            campaign.trigger == TriggerKind.INACTIVITY
            and send.profile.last_order_at != send.trigger_at
        ):
            return True
        return any(
            latest > send.trigger_at
            for name in campaign.exit_events
            if (latest := self.latest_exit.get((send.profile_id, name))) is not None
        )


def _window_next(campaign: Campaign, profile: Profile, now: dt.datetime) -> dt.datetime | None:
    """None when now is inside the campaign's send window in the customer's zone, else
    the next moment the window opens."""
    local = customer_local(profile.timezone, now)
    start, end = campaign.window_start, campaign.window_end
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, start, tzinfo=local.tzinfo).astimezone(dt.UTC)


def decide(send: Send, facts: BatchFacts) -> Decision:
    """Send now, defer (with the new due time) or skip, with the reason: the late
    cut-off, permission, exit, conditions, send window, frequency — in that order."""
    campaign, profile, now = send.campaign, send.profile, facts.now
    cutoff = send.trigger_at + due_offset(campaign) + campaign.late_cutoff
    if now > cutoff:
        return Decision("skip", Reason.TOO_LATE)
    permission = facts.permissions.permission(profile, campaign.topic)
    if not permission.allowed:
        reason = permission.reason
        if reason.startswith("suppressed"):
            return Decision("skip", Reason.SUPPRESSED)
        return Decision("skip", PERMISSION_REASONS.get(reason, Reason.NO_CONSENT))
    if facts.exited(send):
        return Decision("skip", Reason.EXITED)
    selected = facts.selected.get(campaign.pk)
    if selected is not None and profile.pk not in selected:
        return Decision("skip", Reason.NOT_SELECTED)
    opens = _window_next(campaign, profile, now)
    if opens is not None:
        if opens > cutoff:
            return Decision("skip", Reason.QUIET_HOURS)
        return Decision("defer", Reason.QUIET_HOURS, opens)
    frees = facts.frequency.free_at(profile.pk, campaign.topic.category)
    if frees is not None:
        if frees > cutoff:
            return Decision("skip", Reason.CAPPED)
        return Decision("defer", Reason.CAPPED, frees)
    return Decision("send")
