"""The marketer's dashboard on the admin's front page: how the list, the mail and the
customers' voice are doing. Lives in the top app because it reads every app.

The page is a set of widgets, each one function of `now` giving plain values. On a
million profiles the whole set takes seconds (bench/dashboard.py: the contactable counts
and the mail figures most), so the page never computes it while a marketer waits, except
on the very first visit: each widget is cached with the moment it was computed, which the
page shows, and figures older than DASHBOARD_CACHE_SECONDS are still shown while a Celery
task computes new ones. Entries live STALE_FACTOR times longer than that, so with the
worker down for long the page falls back to computing them itself.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kombu.exceptions
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Delivery
from campaigns.selectors import GOOD_PRACTICE, live_extra_count
from consent.models import Action, Category, ConsentEvent, Topic
from core.queue import task_queue
from events.models import Event
from events.spec import ORDER_COMPLETED
from profiles.models import Profile
from profiles.selections import selection_profiles

from .selectors import nps_by_month, nps_report

logger = logging.getLogger(__name__)
CACHE_PREFIX = "dashboard:v2:"
CONVERSION_WINDOW = dt.timedelta(days=7)
MAIL_COUNTS = ("sent", "opened", "clicked", "bounced")
# Cached figures are kept this many times DASHBOARD_CACHE_SECONDS: shown (with their
# time) while a worker computes newer ones.
STALE_FACTOR = 6
REFRESH_LOCK = CACHE_PREFIX + "refreshing"


def _profiles(now: dt.datetime) -> int:
    return Profile.objects.filter(erased_at=None).count()


def _contactable(now: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    for topic in Topic.objects.exclude(category=Category.TRANSACTIONAL).order_by("position"):
        count = selection_profiles(
            {"kind": "contactable", "params": {"topic": topic.key}}, now=now
        ).count()
        rows.append({"topic": topic.name, "category": topic.category, "count": count})
    return rows


def _growth(now: dt.datetime) -> list[dict[str, Any]]:
    since = (now - dt.timedelta(days=365)).replace(day=1, hour=0, minute=0, second=0)
    return [
        {"month": row["month"].strftime("%Y-%m"), "count": row["n"]}
        for row in Profile.objects.filter(created_at__gte=since, erased_at=None)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(n=Count("id"))
        .order_by("month")
    ]


def _opt_in_rate(now: dt.datetime) -> dict[str, Any]:
    since = now - dt.timedelta(days=90)
    counts = ConsentEvent.objects.filter(occurred_at__gte=since).aggregate(
        requested=Count("id", filter=Q(action=Action.REQUESTED)),
        confirmed=Count("id", filter=Q(action=Action.CONFIRMED)),
    )
    rate = (
        round(100 * counts["confirmed"] / counts["requested"], 1) if counts["requested"] else None
    )
    return {**counts, "rate": rate}


def _mail(now: dt.datetime) -> dict[str, Any]:
    """Mails of the last 30 days per day, the totals of those days, and how many were
    followed by an order: two passes over the deliveries (none has the time alone in an
    index), where three took half again as long."""
    since = now - dt.timedelta(days=30)
    deliveries = Delivery.objects.filter(sent_at__gte=since)
    days = (
        deliveries.annotate(day=TruncDate("sent_at"))
        .values("day")
        .annotate(
            sent=Count("id"),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        )
        .order_by("day")
    )
    totals = {key: sum(row[key] for row in days) for key in MAIL_COUNTS}  # type: ignore[literal-required]
    # A conversion: an order within 7 days after a mail, counted once per mail. In WHERE
    # the EXISTS is a (parallel) hash semi-join; inside COUNT(… FILTER) it was a probe per
    # mail, four times slower on a million profiles.
    ordered = Event.objects.filter(
        profile=OuterRef("profile"),
        name=ORDER_COMPLETED,
        timestamp__gt=OuterRef("sent_at"),
        timestamp__lte=OuterRef("sent_at") + CONVERSION_WINDOW,
    )
    converted = deliveries.filter(Exists(ordered)).count()
    per_day = [
        {"day": row["day"].isoformat(), "sent": row["sent"], "opened": row["opened"]}
        for row in days
    ]
    return {**totals, "converted": converted, "per_day": per_day}


def _nps(now: dt.datetime) -> dict[str, Any]:
    return nps_report(start=(now - dt.timedelta(days=90)).date(), end=now.date())


def _nps_trend(now: dt.datetime) -> list[dict[str, Any]]:
    return nps_by_month(months=12, now=now)


def _sources(now: dt.datetime, limit: int = 8) -> list[dict[str, Any]]:
    return [
        {"source": row["acquisition_source"], "count": row["n"]}
        for row in Profile.objects.filter(erased_at=None)
        .exclude(acquisition_source="")
        .values("acquisition_source")
        .annotate(n=Count("id"))
        .order_by("-n")[:limit]
    ]


def _campaigns(now: dt.datetime) -> dict[str, Any]:
    live = list(
        Campaign.objects.filter(status=CampaignStatus.LIVE)
        .order_by("-priority")
        .values("key", "name", "is_default")
    )
    extra = live_extra_count()
    low, high = GOOD_PRACTICE
    return {"live": live, "extra": extra, "low": low, "high": high, "ok": low <= extra <= high}


@dataclass(frozen=True)
class Widget:
    """One figure of the front page: `compute(now)` gives plain (JSON-able) values."""

    key: str
    compute: Callable[[dt.datetime], Any]
    # False: cheap enough to compute on every visit, and wanted live (the 3–8 warning
    # should change the moment a campaign goes live).
    cached: bool = True


WIDGETS: tuple[Widget, ...] = (
    Widget("profiles", _profiles),
    Widget("contactable", _contactable),
    Widget("growth", _growth),
    Widget("opt_in", _opt_in_rate),
    Widget("mail", _mail),
    Widget("nps", _nps),
    Widget("nps_trend", _nps_trend),
    Widget("sources", _sources),
    Widget("campaigns", _campaigns, cached=False),
)


def _cache_key(widget: Widget) -> str:
    return CACHE_PREFIX + widget.key


def _entry(widget: Widget, now: dt.datetime) -> dict[str, Any]:
    return {"at": now.isoformat(), "value": widget.compute(now)}


def _keep_seconds() -> int:
    return settings.DASHBOARD_CACHE_SECONDS * STALE_FACTOR


def widget_figure(widget: Widget, *, now: dt.datetime, fresh: bool = False) -> dict[str, Any]:
    """{"at": when computed (ISO), "value": …}: from the cache unless `fresh` or absent."""
    if not fresh and widget.cached:
        cached = cache.get(_cache_key(widget))
        if cached is not None:
            return dict(cached)
    entry = _entry(widget, now)
    if widget.cached:
        cache.set(_cache_key(widget), entry, _keep_seconds())
    return entry


def dashboard_refresh(*, now: dt.datetime) -> list[str]:
    """Compute every cached widget anew and keep it; returns their keys. Lets the next
    stale page queue a refresh again."""
    entries = {_cache_key(w): _entry(w, now) for w in WIDGETS if w.cached}
    cache.set_many(entries, _keep_seconds())
    cache.delete(REFRESH_LOCK)
    return [w.key for w in WIDGETS if w.cached]


def dashboard_figures(*, now: dt.datetime | None = None, fresh: bool = False) -> dict[str, Any]:
    """Everything the front page shows. Cached widgets come from the cache (one round
    trip); those missing are computed here. When the oldest is older than
    DASHBOARD_CACHE_SECONDS, one refresh is queued and the cached figures are shown with
    their time (`computed_at`, the oldest widget's moment); `fresh` computes all now."""
    now = now or timezone.now()
    cached_widgets = [w for w in WIDGETS if w.cached]
    stored = {} if fresh else cache.get_many([_cache_key(w) for w in cached_widgets])
    computed: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    for widget in WIDGETS:
        entry = stored.get(_cache_key(widget)) if widget.cached else None
        if entry is None:
            entry = _entry(widget, now)
            if widget.cached:
                computed[_cache_key(widget)] = entry
                stored[_cache_key(widget)] = entry
        figures[widget.key] = entry["value"]
    if computed:
        cache.set_many(computed, _keep_seconds())
    oldest = min(stored[_cache_key(w)]["at"] for w in cached_widgets)
    figures["computed_at"] = oldest
    age = now - dt.datetime.fromisoformat(oldest)
    # One refresh at a time; the lock expires by itself if the worker never gets to it.
    if age.total_seconds() > settings.DASHBOARD_CACHE_SECONDS and cache.add(
        REFRESH_LOCK, now.isoformat(), settings.DASHBOARD_CACHE_SECONDS
    ):
        # Not delay_on_commit: it only reads what is committed, and a page is no transaction.
        try:
            task_queue("surveys.tasks.dashboard_refresh_task", on_commit=False)
        except kombu.exceptions.OperationalError:
            # The figures stay on the page; a visit after the lock expires asks again.
            logger.warning("dashboard refresh not queued: the broker cannot be reached")
    return figures
