"""The marketer's dashboard on the admin's front page: how the list, the mail and the
customers' voice are doing. Lives in the top app because it reads every app.

Each figure is one aggregate query; the whole set is cached (DASHBOARD_CACHE_SECONDS),
so the page stays fast on a million profiles — the first visit after expiry pays.
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from campaigns.admin import GOOD_PRACTICE, live_extra_count
from campaigns.models import Campaign, CampaignStatus, Delivery
from consent.models import Action, Category, ConsentEvent, Topic
from events.models import Event
from profiles.models import Profile
from profiles.selections import selection_profiles

from .selectors import nps_by_month, nps_report

CACHE_KEY = "dashboard:v1"
CONVERSION_WINDOW = dt.timedelta(days=7)


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
    since = now - dt.timedelta(days=30)
    deliveries = Delivery.objects.filter(sent_at__gte=since)
    counts = deliveries.aggregate(
        sent=Count("id"),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        bounced=Count("id", filter=Q(bounced_at__isnull=False)),
    )
    # A conversion: an order within 7 days after a mail (counted once per mail).
    conversions = (
        deliveries.filter(
            profile__events__name="Order Completed",
            profile__events__timestamp__gt=F("sent_at"),
            profile__events__timestamp__lte=F("sent_at") + CONVERSION_WINDOW,
        )
        .values("id")
        .distinct()
        .count()
    )
    per_day = [
        {"day": row["day"].isoformat(), "sent": row["n"], "opened": row["o"]}
        for row in deliveries.annotate(day=TruncDate("sent_at"))
        .values("day")
        .annotate(n=Count("id"), o=Count("id", filter=Q(opened_at__isnull=False)))
        .order_by("day")
    ]
    return {**counts, "converted": conversions, "per_day": per_day}


def _sources(limit: int = 8) -> list[dict[str, Any]]:
    return [
        {"source": row["acquisition_source"], "count": row["n"]}
        for row in Profile.objects.filter(erased_at=None)
        .exclude(acquisition_source="")
        .values("acquisition_source")
        .annotate(n=Count("id"))
        .order_by("-n")[:limit]
    ]


def _campaigns() -> dict[str, Any]:
    live = list(
        Campaign.objects.filter(status=CampaignStatus.LIVE)
        .order_by("-priority")
        .values("key", "name", "is_default")
    )
    extra = live_extra_count()
    low, high = GOOD_PRACTICE
    return {"live": live, "extra": extra, "low": low, "high": high, "ok": low <= extra <= high}


def dashboard_figures(*, now: dt.datetime | None = None, fresh: bool = False) -> dict[str, Any]:
    """Everything the front page shows; cached."""
    if not fresh:
        cached = cache.get(CACHE_KEY)
        if cached is not None:
            return dict(cached)
    now = now or timezone.now()
    figures = {
        "computed_at": now.isoformat(),
        "profiles": Profile.objects.filter(erased_at=None).count(),
        "contactable": _contactable(now),
        "growth": _growth(now),
        "opt_in": _opt_in_rate(now),
        "mail": _mail(now),
        "nps": nps_report(start=(now - dt.timedelta(days=90)).date(), end=now.date()),
        "nps_trend": nps_by_month(months=12),
        "sources": _sources(),
        "campaigns": _campaigns(),
        "events_today": Event.objects.filter(received_at__gte=now - dt.timedelta(days=1)).count(),
    }
    cache.set(CACHE_KEY, figures, settings.DASHBOARD_CACHE_SECONDS)
    return figures
