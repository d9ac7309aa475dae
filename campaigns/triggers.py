"""Step 1 of the scheduler: turn every live campaign's trigger into sends, in SQL.

Each trigger kind is one query that finds the (profile, occurrence, trigger moment) rows
whose moment plus the campaign's offset falls in [now − late cut-off, now]; the query is
wrapped in `INSERT … SELECT … ON CONFLICT DO NOTHING` on the unique key (campaign,
profile, occurrence). Nothing loops over profiles in Python, a second pass inserts
nothing, and each pass works out from the data alone what is due at `now` — no "last
run" mark, so a tick with an earlier clock never skips anything.

Occurrences: "once" for once-ever campaigns; otherwise what made the send — an event's
id, the basket's last change, a year, the last order before a lapse.
"""

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Concat

from consent.models import Action, ConsentEvent, ContactPreference
from core.clock import customer_zone
from events.models import Activity, Event
from profiles.models import Profile
from profiles.selections import selection_profiles

from .models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Reentry,
    Send,
    SendStatus,
    SunsetPolicy,
    TriggerKind,
)

ANALYZE_AFTER = 10_000
COLUMNS = (
    "campaign_id",
    "profile_id",
    "occurrence",
    "trigger_at",
    "due_at",
    "priority",
    "status",
    "reason",
    "deferrals",
    "created_at",
)


def due_offset(campaign: Campaign) -> dt.timedelta:
    """How long after its trigger moment a send of this campaign is due (the scheduler sets
    due_at with it; the send-time check measures the late cut-off from it)."""
    if campaign.trigger == TriggerKind.INACTIVITY:
        return dt.timedelta(days=campaign.trigger_number or 180) + campaign.delay
    return campaign.delay


def _insert(
    campaign: Campaign,
    rows: QuerySet,
    *,
    profile: Any,
    occurrence: Any,
    trigger: Any,
    now: dt.datetime,
) -> int:
    """INSERT the rows of `rows` (annotated with the three expressions) as sends."""
    offset = due_offset(campaign)
    trigger_expr = ExpressionWrapper(trigger, output_field=DateTimeField())
    annotated = rows.order_by().annotate(
        s_campaign=Value(campaign.pk, output_field=IntegerField()),
        s_profile=profile,
        s_occurrence=ExpressionWrapper(occurrence, output_field=CharField()),
        s_trigger=trigger_expr,
        s_due=ExpressionWrapper(trigger + Value(offset), output_field=DateTimeField())
        if offset
        else trigger_expr,
        s_priority=Value(campaign.priority, output_field=IntegerField()),
        s_status=Value(str(SendStatus.SCHEDULED), output_field=CharField()),
        s_reason=Value("", output_field=CharField()),
        s_deferrals=Value(0, output_field=IntegerField()),
        s_created=Value(now, output_field=DateTimeField()),
    )
    if campaign.reentry == Reentry.DAYS and campaign.reentry_days:
        recent = Send.objects.filter(
            campaign=campaign,
            profile=OuterRef("s_profile"),
            due_at__gte=now - dt.timedelta(days=campaign.reentry_days),
        ).exclude(status=SendStatus.SKIPPED)
        annotated = annotated.filter(~Exists(recent))
    names = [
        "s_campaign",
        "s_profile",
        "s_occurrence",
        "s_trigger",
        "s_due",
        "s_priority",
        "s_status",
        "s_reason",
        "s_deferrals",
        "s_created",
    ]
    sql, params = annotated.values_list(*names).query.sql_with_params()
    table = Send._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) {sql} "  # noqa: S608 - our own names
            "ON CONFLICT (campaign_id, profile_id, occurrence) DO NOTHING",
            params,
        )
        return max(cursor.rowcount, 0)


def _occurrence(campaign: Campaign, prefix: str, key: Any) -> Any:
    if campaign.reentry == Reentry.ONCE:
        return Value("once")
    return Concat(Value(prefix), Cast(key, CharField()))


def _window(campaign: Campaign, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The trigger moments whose due moment lies in [now − cut-off, now]."""
    offset = due_offset(campaign)
    return now - offset - campaign.late_cutoff, now - offset


def _event_sends(campaign: Campaign, now: dt.datetime) -> int:
    start, end = _window(campaign, now)
    # Erasure keeps an erased customer's bare events, linked to the tombstone.
    events = Event.objects.filter(
        name=campaign.trigger_event,
        profile__erased_at=None,
        profile__isnull=False,
        timestamp__gte=start,
        timestamp__lte=end,
    )
    if campaign.trigger == TriggerKind.FIRST_EVENT:
        earlier = Event.objects.filter(
            profile=OuterRef("profile"),
            name=campaign.trigger_event,
            timestamp__lt=OuterRef("timestamp"),
        )
        events = events.filter(~Exists(earlier))
    if campaign.reentry == Reentry.DAYS:
        # One send per customer per pass: the latest trigger.
        latest = events.values("profile_id").annotate(t=Max("timestamp"))
        return _insert(
            campaign,
            latest,
            profile=F("profile_id"),
            occurrence=Concat(Value("at:"), Cast("t", CharField())),
            trigger=F("t"),
            now=now,
        )
    return _insert(
        campaign,
        events,
        profile=F("profile_id"),
        occurrence=_occurrence(campaign, "event:", "id"),
        trigger=F("timestamp"),
        now=now,
    )


def _basket_sends(campaign: Campaign, now: dt.datetime) -> int:
    start, end = _window(campaign, now)
    baskets = Activity.objects.filter(
        last_basket_at__gte=start, last_basket_at__lte=end, profile__erased_at=None
    ).exclude(basket=[])
    return _insert(
        campaign,
        baskets,
        profile=F("profile_id"),
        occurrence=_occurrence(campaign, "basket:", "last_basket_at"),
        trigger=F("last_basket_at"),
        now=now,
    )


def _consent_sends(campaign: Campaign, now: dt.datetime) -> int:
    start, end = _window(campaign, now)
    # Erasure keeps the (scrubbed) ledger as proof, linked to the tombstone.
    confirmed = ConsentEvent.objects.filter(
        topic_id=campaign.topic_id,
        action=Action.CONFIRMED,
        occurred_at__gte=start,
        occurred_at__lte=end,
        profile__erased_at=None,
    )
    return _insert(
        campaign,
        confirmed,
        profile=F("profile_id"),
        occurrence=_occurrence(campaign, "consent:", "id"),
        trigger=F("occurred_at"),
        now=now,
    )


def _inactivity_sends(campaign: Campaign, now: dt.datetime) -> int:
    """No order for N days: the moment is the last order; a new order is a new lapse."""
    start, end = _window(campaign, now)
    lapsed = Profile.objects.filter(
        order_count__gte=1, last_order_at__gte=start, last_order_at__lte=end, erased_at=None
    )
    return _insert(
        campaign,
        lapsed,
        profile=F("pk"),
        occurrence=_occurrence(campaign, "lapse:", "last_order_at"),
        trigger=F("last_order_at"),
        now=now,
    )


# A milestone campaign whose number was left empty: the 10th order.
DEFAULT_MILESTONE = 10


def _milestone_sends(campaign: Campaign, now: dt.datetime) -> int:
    start, end = _window(campaign, now)
    # The same number for the filter and the occurrence key: filling in the default later
    # is the same milestone, and must not send it again.
    number = campaign.trigger_number or DEFAULT_MILESTONE
    reached = Profile.objects.filter(
        order_count=number,
        last_order_at__gte=start,
        last_order_at__lte=end,
        erased_at=None,
    )
    return _insert(
        campaign,
        reached,
        profile=F("pk"),
        occurrence=Value(f"milestone:{number}"),
        trigger=F("last_order_at"),
        now=now,
    )


def _yearly_sends(campaign: Campaign, now: dt.datetime) -> int:
    """A date on the profile, every year, at a local hour. Grouped by time zone: one query
    per zone in use (a few dozen), each selecting every profile whose date it is there.
    29 February is celebrated on 28 February in other years."""
    field = campaign.trigger_field or "birth_date"
    at = campaign.send_at_local_time or dt.time(9, 0)
    inserted = 0
    zones = Profile.objects.filter(erased_at=None).values_list("timezone", flat=True).distinct()
    for zone_name in zones:
        zone = customer_zone(zone_name)
        local_today = now.astimezone(zone).date()
        for day in (local_today, local_today - dt.timedelta(days=1)):
            moment = dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)
            if not (now - campaign.late_cutoff <= moment + campaign.delay <= now):
                continue
            dates = [(day.month, day.day)]
            if (day.month, day.day) == (2, 28) and not _leap(day.year):
                dates.append((2, 29))
            for month, day_of_month in dates:
                people = Profile.objects.filter(
                    timezone=zone_name,
                    erased_at=None,
                    **{f"{field}__month": month, f"{field}__day": day_of_month},
                )
                if field != "birth_date":
                    people = people.filter(**{f"{field}__year__lt": day.year})
                inserted += _insert(
                    campaign,
                    people,
                    profile=F("pk"),
                    occurrence=Value("once")
                    if campaign.reentry == Reentry.ONCE
                    else Value(f"year:{day.year}"),
                    trigger=Value(moment, output_field=DateTimeField()),
                    now=now,
                )
    return inserted


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _scheduled_sends(campaign: Campaign, now: dt.datetime) -> int:
    """A newsletter: everyone in the selection, once, at the set time."""
    if campaign.scheduled_at is None or campaign.selection is None:
        return 0
    if not (campaign.scheduled_at <= now <= campaign.scheduled_at + campaign.late_cutoff):
        return 0
    audience = selection_profiles(campaign.selection.definition, now=now).filter(erased_at=None)
    return _insert(
        campaign,
        audience,
        profile=F("pk"),
        occurrence=Value("once"),
        trigger=Value(campaign.scheduled_at, output_field=DateTimeField()),
        now=now,
    )


def _sunset_sends(campaign: Campaign, now: dt.datetime) -> int:
    """Customers who reacted to none of their last commercial mails: no open or click in
    the policy's window, with at least `mails` commercial mails in it, not yet stopped and
    not asked (or answered) within the window."""

    policy = SunsetPolicy.current()
    if not policy.active:
        return 0
    since = now - dt.timedelta(days=policy.days)
    window = Delivery.objects.filter(category="commercial", sent_at__gte=since)
    quiet = (
        window.values("profile_id")
        .annotate(n=Count("id"), opened=Max("opened_at"), clicked=Max("clicked_at"))
        .filter(n__gte=policy.mails, opened=None, clicked=None)
        .values("profile_id")
    )
    settled = ContactPreference.objects.filter(
        Q(sunset_at__isnull=False) | Q(sunset_lifted_at__gte=since)
    ).values("profile_id")
    asked = Send.objects.filter(campaign=campaign, due_at__gte=since).values("profile_id")
    people = (
        Profile.objects.filter(pk__in=quiet, erased_at=None)
        .exclude(pk__in=settled)
        .exclude(pk__in=asked)
    )
    return _insert(
        campaign,
        people,
        profile=F("pk"),
        occurrence=Value(f"sunset:{now.date().isoformat()}"),
        trigger=Value(now, output_field=DateTimeField()),
        now=now,
    )


FINDERS = {
    TriggerKind.EVENT: _event_sends,
    TriggerKind.FIRST_EVENT: _event_sends,
    TriggerKind.BASKET: _basket_sends,
    TriggerKind.CONSENT: _consent_sends,
    TriggerKind.INACTIVITY: _inactivity_sends,
    TriggerKind.MILESTONE: _milestone_sends,
    TriggerKind.YEARLY: _yearly_sends,
    TriggerKind.SCHEDULED: _scheduled_sends,
    TriggerKind.SUNSET: _sunset_sends,
}


def sends_schedule(*, now: dt.datetime) -> dict[str, int]:
    """Every live campaign's due sends, inserted once. Returns new sends per campaign."""
    created = {}
    for campaign in Campaign.objects.filter(status=CampaignStatus.LIVE):
        created[campaign.key] = FINDERS[TriggerKind(campaign.trigger)](campaign, now)
    if connection.vendor == "postgresql" and sum(created.values()) >= ANALYZE_AFTER:
        # Many new sends at once (a newsletter, a first pass): fresh statistics, or the
        # planner keeps believing the table has none of them (bench/scheduler.py: the NPS
        # re-entry check 0.53 s → 0.035 s) until autovacuum gets round to it.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Send._meta.db_table}")
    return created
