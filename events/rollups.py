"""What events keep on a profile, recomputed from the events themselves.

A refresh reads the customer's relevant events (a few queries for a whole set of
customers), so an event that arrives late or out of order can never move "last order"
backwards or count an order twice. The nightly jobs are set-based SQL.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.json import KT

from consent.models import ConsentState, Status
from profiles.models import LifecycleStage, Profile

from .models import Activity, Event
from .spec import (
    ACCOUNT_CLOSED,
    BASKET_EVENTS,
    CHECKOUT_STARTED,
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    PRODUCT_REMOVED,
    PRODUCT_VIEWED,
)

LAPSED_AFTER = dt.timedelta(days=180)
PERSONALISATION_TOPIC = "personalisation"
# Keys a consent manager uses in context.consent.categoryPreferences for this purpose.
PERSONALISATION_KEYS = ("personalisation", "personalization", "Personalisation", "Personalization")
PRODUCT_KEYS = (
    "product_id",
    "sku",
    "name",
    "price",
    "quantity",
    "category",
    "url",
    "image_url",
    "brand",
)


# What one order can be worth here: beyond it (or not a number at all: "NaN", "Infinity",
# "veel") an amount counts as 0, so that one odd order never stops a customer's roll-up.
MAX_AMOUNT = Decimal("1e9")


def _money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and abs(amount) < MAX_AMOUNT else Decimal(0)


def order_total(properties: dict[str, Any]) -> Decimal:
    """What the order was worth: total, else revenue, else the sum of its lines."""
    for key in ("total", "revenue", "value"):
        if properties.get(key) not in (None, ""):
            return _money(properties[key])
    lines = sum(
        (_money(p.get("price")) * _money(p.get("quantity") or 1) for p in _products(properties)),
        Decimal(0),
    )
    return lines if lines < MAX_AMOUNT else Decimal(0)


def _products(properties: dict[str, Any]) -> list[dict[str, Any]]:
    products = properties.get("products")
    if isinstance(products, list):
        return [p for p in products if isinstance(p, dict)]
    if properties.get("product_id") or properties.get("sku"):
        return [properties]
    return []


def _product(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in PRODUCT_KEYS if item.get(k) not in (None, "")}


def _key(item: dict[str, Any]) -> str:
    return str(item.get("product_id") or item.get("sku") or item.get("name") or "")


def personalisation_allowed(profile_ids: Iterable[int]) -> set[int]:
    """Customers who allowed us to use their browsing (the personalisation topic)."""
    return set(
        ConsentState.objects.filter(
            profile_id__in=list(profile_ids),
            topic__key=PERSONALISATION_TOPIC,
            status=Status.CONFIRMED,
        ).values_list("profile_id", flat=True)
    )


def _cookie_consent() -> Q:
    q = Q()
    for key in PERSONALISATION_KEYS:
        q |= Q(**{f"context__consent__categoryPreferences__{key}": True})
    return q


@transaction.atomic
def rollups_refresh_for(*, profile_ids: Iterable[int], now: dt.datetime) -> int:
    """Recompute value figures, lifecycle stage, open basket, interests and the at-risk
    signal of these customers from their events. Returns how many were refreshed."""
    ids = sorted(set(profile_ids))
    # Erased customers are left out in Python: `erased_at IS NULL` in SQL drew the planner
    # of a table not analysed yet to the birthday index over every live customer.
    profiles = {pk: p for pk, p in Profile.objects.in_bulk(ids).items() if p.erased_at is None}
    if not profiles:
        return 0
    facts = _Facts.gather(list(profiles))
    activities = [_refreshed(profile, facts, now) for profile in profiles.values()]
    _save(list(profiles.values()), activities)
    return len(profiles)


OrderRows = dict[int, dict[str, tuple[dt.datetime, dict[str, Any]]]]
BasketRows = dict[int, list[tuple[dt.datetime, str, dict[str, Any]]]]


@dataclass
class _Facts:
    """What the events say of a set of customers, read with a few grouped queries."""

    last_seen: dict[int, dt.datetime]
    closed: dict[int, dt.datetime]
    orders: OrderRows
    baskets: BasketRows
    viewed: dict[int, dict[str, dict[str, Any]]]
    first_touch: dict[int, dict[str, Any]]

    @classmethod
    def gather(cls, ids: list[int]) -> "_Facts":
        events = Event.objects.filter(profile_id__in=ids)
        return cls(
            last_seen=_latest(events),
            closed=_latest(events.filter(name=ACCOUNT_CLOSED)),
            orders=_orders(events),
            baskets=_baskets(events),
            viewed=_viewed(events, ids),
            first_touch=_first_touch(ids),
        )


def _latest(events: QuerySet[Event]) -> dict[int, dt.datetime]:
    return dict(
        events.values("profile_id").annotate(t=Max("timestamp")).values_list("profile_id", "t")
    )


def _orders(events: QuerySet[Event]) -> OrderRows:
    orders: OrderRows = defaultdict(dict)
    for pid, message_id, at, props in (
        events.filter(name=ORDER_COMPLETED)
        .order_by("timestamp")
        .values_list("profile_id", "message_id", "timestamp", "properties")
    ):
        # The same order reported twice (under two message ids) counts once.
        order_id = str(props.get("order_id") or props.get("orderId") or message_id)
        orders[pid].setdefault(order_id, (at, props))
    return orders


def _baskets(events: QuerySet[Event]) -> BasketRows:
    baskets: BasketRows = defaultdict(list)
    for pid, at, name, props in (
        events.filter(name__in=BASKET_EVENTS)
        .order_by("timestamp", "id")
        .values_list("profile_id", "timestamp", "name", "properties")
    ):
        baskets[pid].append((at, name, props))
    return baskets


def _viewed(events: QuerySet[Event], ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Categories viewed, only of customers who allow personalisation (or whose browser
    event carried that consent)."""
    allowed = personalisation_allowed(ids)
    viewed: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    browsing = events.filter(name=PRODUCT_VIEWED).filter(
        Q(profile_id__in=allowed) | _cookie_consent()
    )
    for pid, category, count, last in (
        browsing.annotate(category=KT("properties__category"))
        .exclude(category__isnull=True)
        .values("profile_id", "category")
        .annotate(n=Count("id"), last=Max("timestamp"))
        .values_list("profile_id", "category", "n", "last")
    ):
        viewed[pid][category] = {"count": count, "last": last.isoformat()}
    return viewed


def _refreshed(profile: Profile, facts: _Facts, now: dt.datetime) -> Activity:
    """Set the customer's figures from the facts; their new Activity row."""
    pid = profile.pk
    activity = Activity(profile_id=pid)
    _apply_orders(profile, activity, list(facts.orders[pid].values()), now)
    last_order = profile.last_order_at
    closed = facts.closed.get(pid)
    if closed is not None and (last_order is None or closed >= last_order):
        profile.lifecycle_stage = LifecycleStage.CHURNED
    profile.last_seen_at = facts.last_seen.get(pid)
    _apply_basket(activity, facts.baskets[pid], last_order)
    activity.interests = {
        "viewed": facts.viewed.get(pid, {}),
        "bought": activity.interests.get("bought", {}),
    }
    touch = facts.first_touch.get(pid)
    if touch:
        activity.first_touch = touch
        if not profile.acquisition_source:
            profile.acquisition_source = str(touch["source"])[:120]
    return activity


def _save(profiles: list[Profile], activities: list[Activity]) -> None:
    Profile.objects.bulk_update(
        profiles,
        [
            "order_count",
            "total_spent",
            "first_order_at",
            "last_order_at",
            "last_seen_at",
            "lifecycle_stage",
            "acquisition_source",
        ],
    )
    Activity.objects.bulk_create(
        activities,
        update_conflicts=True,
        unique_fields=["profile"],
        update_fields=[
            "last_basket_at",
            "basket",
            "interests",
            "usual_order_interval_days",
            "at_risk",
            "first_touch",
            "updated_at",
        ],
    )


def _apply_orders(profile: Profile, activity: Activity, orders: list, now: dt.datetime) -> None:
    orders.sort(key=lambda o: o[0])
    profile.order_count = len(orders)
    profile.total_spent = sum((order_total(props) for _at, props in orders), Decimal(0))
    profile.first_order_at = orders[0][0] if orders else None
    profile.last_order_at = orders[-1][0] if orders else None
    bought: dict[str, dict[str, Any]] = {}
    for at, props in orders:
        for item in _products(props):
            category = item.get("category")
            if category:
                entry = bought.setdefault(str(category), {"count": 0, "last": None})
                entry["count"] += 1
                entry["last"] = at.isoformat()
    activity.interests = {"bought": bought}
    if len(orders) >= 2:
        span = (orders[-1][0] - orders[0][0]).total_seconds() / 86400
        activity.usual_order_interval_days = round(span / (len(orders) - 1), 2)
        activity.at_risk = (
            now - orders[-1][0]
        ).total_seconds() / 86400 > 2 * activity.usual_order_interval_days
    else:
        activity.usual_order_interval_days = None
        activity.at_risk = False
    if profile.order_count:
        lapsed = now - profile.last_order_at > LAPSED_AFTER  # type: ignore[operator]
        profile.lifecycle_stage = LifecycleStage.LAPSED if lapsed else LifecycleStage.CUSTOMER
    elif profile.lifecycle_stage in (LifecycleStage.CUSTOMER, LifecycleStage.LAPSED):
        profile.lifecycle_stage = LifecycleStage.PROSPECT


def _apply_basket(activity: Activity, basket_events: list, last_order: dt.datetime | None) -> None:
    """The open basket: what was added since the last order and not removed since."""
    basket: dict[str, dict[str, Any]] = {}
    changed_at = None
    for at, name, props in basket_events:
        if last_order is not None and at <= last_order:
            continue
        changed_at = at
        if name == CHECKOUT_STARTED and _products(props):
            basket = {_key(p): _product(p) for p in _products(props)}
        elif name == PRODUCT_ADDED:
            for item in _products(props):
                basket[_key(item)] = _product(item)
        elif name == PRODUCT_REMOVED:
            for item in _products(props):
                basket.pop(_key(item), None)
    activity.basket = list(basket.values())
    activity.last_basket_at = changed_at if basket else None


def _first_touch(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The earliest UTM campaign each customer arrived with (only landing pages carry
    one, so there are few such events per customer)."""
    touches: dict[int, dict[str, Any]] = {}
    with_campaign = (
        Event.objects.filter(profile_id__in=ids, context__campaign__has_key="source")
        .order_by("profile_id", "timestamp", "id")
        .values_list("profile_id", "timestamp", "context")
    )
    for pid, at, context in with_campaign.iterator():
        if pid in touches:
            continue
        campaign = context.get("campaign") or {}
        touches[pid] = {
            k: campaign[k] for k in ("source", "medium", "name", "term", "content") if k in campaign
        }
        touches[pid]["at"] = at.isoformat()
    return touches


# --- Nightly ----------------------------------------------------------------------------


def lifecycle_nightly(*, now: dt.datetime) -> dict[str, int]:
    """Set-based: customers without an order for 180 days become lapsed; the at-risk flag
    follows the clock; RFM scores (1–5 each) are recomputed over all customers."""
    lapsed = Profile.objects.filter(
        lifecycle_stage=LifecycleStage.CUSTOMER,
        last_order_at__lt=now - LAPSED_AFTER,
        erased_at=None,
    ).update(lifecycle_stage=LifecycleStage.LAPSED)
    return {"lapsed": lapsed, "at_risk": at_risk_refresh(now=now), "rfm": rfm_refresh(now=now)}


def at_risk_refresh(*, now: dt.datetime) -> int:
    """At risk: the time since the last order is over twice the customer's usual interval."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """UPDATE events_activity a
                   SET at_risk = (%s - p.last_order_at) > make_interval(secs => a.usual_order_interval_days * 2 * 86400)
                   FROM profiles_profile p
                   WHERE p.id = a.profile_id AND a.usual_order_interval_days IS NOT NULL""",
                [now],
            )
        else:
            cursor.execute(
                """UPDATE events_activity SET at_risk = (
                     SELECT julianday(%s) - julianday(p.last_order_at) > 2 * events_activity.usual_order_interval_days
                     FROM profiles_profile p WHERE p.id = events_activity.profile_id)
                   WHERE usual_order_interval_days IS NOT NULL""",
                [now.isoformat()],
            )
        return cursor.rowcount


def rfm_refresh(*, now: dt.datetime) -> int:
    """Recency, frequency and monetary value as quintiles (1 = lowest fifth, 5 = best)
    over every customer with an order: one statement, window functions."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO events_activity (profile_id, basket, interests, first_touch, at_risk, updated_at)
               SELECT p.id, '[]', '{}', '{}', %s, %s FROM profiles_profile p
               WHERE p.order_count > 0 AND p.erased_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM events_activity a WHERE a.profile_id = p.id)""",
            [False, now],
        )
        cursor.execute(
            """WITH scores AS (
                 SELECT id,
                        NTILE(5) OVER (ORDER BY last_order_at, id) AS r,
                        NTILE(5) OVER (ORDER BY order_count, id) AS f,
                        NTILE(5) OVER (ORDER BY total_spent, id) AS m
                 FROM profiles_profile WHERE order_count > 0 AND erased_at IS NULL)
               UPDATE events_activity SET rfm_recency = scores.r, rfm_frequency = scores.f,
                      rfm_monetary = scores.m, rfm_at = %s
               FROM scores WHERE events_activity.profile_id = scores.id""",
            [now],
        )
        return cursor.rowcount
