"""Reads (and the GDPR parts) of the events app."""

import contextlib
import datetime as dt
from typing import Any

from django.db.models import Q

from profiles.models import Profile

from .models import Activity, Alias, Event
from .spec import COMMON_EVENTS, ORDER_COMPLETED


def events_export(profile: Profile) -> list[dict[str, Any]]:
    """Every event of the person, oldest first (GDPR export)."""
    return [
        {
            "type": e.type,
            "name": e.name,
            "timestamp": e.timestamp.isoformat(),
            "received_at": e.received_at.isoformat(),
            "properties": e.properties,
            "context": e.context,
        }
        for e in Event.objects.filter(profile=profile).order_by("timestamp", "id").iterator()
    ]


def events_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Erasure: events keep only what they were and when (for the shop's figures); their
    properties, context and ids go, and so does everything events derived about the person."""
    events = Event.objects.filter(profile=profile)
    ids = set(events.exclude(anonymous_id="").values_list("anonymous_id", flat=True))
    Alias.objects.filter(user_id=profile.user_id).delete()
    Alias.objects.filter(previous_id__in=ids).delete()
    # An order keeps what it was worth (no one's data, and the shop's revenue figures
    # stay whole); every other property goes.
    for event in events.filter(name=ORDER_COMPLETED).only("pk", "properties"):
        kept = {
            k: event.properties[k]
            for k in ("total", "revenue", "currency")
            if k in event.properties
        }
        Event.objects.filter(pk=event.pk).update(properties=kept)
    events.exclude(name=ORDER_COMPLETED).update(properties={})
    events.update(context={}, user_id="", anonymous_id="")
    Activity.objects.filter(profile=profile).delete()


# --- The admin: a customer's timeline and behaviour --------------------------------------

# Properties worth a glance on the timeline, in this order.
GLANCE_PROPERTIES = ("order_id", "total", "revenue", "currency", "name", "category", "url")


def event_glance(event: Event) -> str:
    """A short line of what an event carried."""
    props = event.properties or {}
    parts = [f"{k}: {props[k]}" for k in GLANCE_PROPERTIES if props.get(k) not in (None, "")]
    line = ", ".join(parts)
    return line if len(line) <= 120 else line[:119] + "…"


def event_title(event: Event) -> str:
    """ "Order Completed" for a track call; "page: Home", "identify" for the others."""
    if event.type == "track":
        return event.name
    return f"{event.type}: {event.name}" if event.name else event.type


def events_timeline(profile: Profile, limit: int) -> list[Any]:
    from django.urls import reverse
    from django.utils.translation import gettext

    from profiles.registry import TimelineItem

    rows = Event.objects.filter(profile=profile).order_by("-timestamp", "-id")[:limit]
    return [
        TimelineItem(
            at=row.timestamp,
            kind=gettext("event"),
            title=event_title(row),
            detail=event_glance(row),
            url=reverse("admin:events_event_change", args=[row.pk]),
        )
        for row in rows
    ]


def activity_panel(profile: Profile) -> str:
    """What events keep on the customer besides the value figures: the open basket,
    interests, RFM and the at-risk signal."""
    from django.urls import reverse
    from django.utils.html import format_html, format_html_join
    from django.utils.translation import gettext

    activity = Activity.objects.filter(profile=profile).first()
    events_link = format_html(
        '<p><a href="{}?profile__id__exact={}">{}</a></p>',
        reverse("admin:events_event_changelist"),
        profile.pk,
        gettext("All events of this customer"),
    )
    if activity is None:
        return format_html("<p>{}</p>{}", gettext("No behaviour known yet."), events_link)
    basket = format_html_join(
        ", ",
        "{} ({})",
        ((i.get("name") or i.get("product_id"), i.get("price", "")) for i in activity.basket),
    )
    interests = format_html_join(
        ", ",
        "{} ({}×)",
        (
            (category, info.get("count", 0))
            for kind in ("bought", "viewed")
            for category, info in sorted(
                (activity.interests or {}).get(kind, {}).items(),
                key=lambda item: -item[1].get("count", 0),
            )[:5]
        ),
    )
    rfm = (
        f"{activity.rfm_recency}-{activity.rfm_frequency}-{activity.rfm_monetary}"
        if activity.rfm_at
        else "—"
    )
    return format_html(
        "<dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>"
        "<dt>{}</dt><dd>{}</dd></dl>{}",
        gettext("Open basket"),
        basket or "—",
        gettext("Interests"),
        interests or "—",
        gettext("RFM (recency-frequency-monetary)"),
        rfm,
        gettext("At risk"),
        gettext("yes") if activity.at_risk else gettext("no"),
        events_link,
    )


# --- Conditions for selections ------------------------------------------------------------


def _event_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in COMMON_EVENTS]


def _event_q(params: dict[str, Any], now: dt.datetime) -> Q:
    """Did the customer do X (with property P = V) at least N times within D days?"""
    from django.db.models import Count, Exists, OuterRef

    events = Event.objects.filter(name=params["event"])
    if params.get("days") is not None:
        events = events.filter(timestamp__gte=now - dt.timedelta(days=params["days"]))
    if params.get("property"):
        key = params["property"]
        value = params.get("value")
        if value in (None, ""):
            events = events.filter(properties__has_key=key)
        else:
            matches = Q(**{f"properties__{key}": value})
            with contextlib.suppress(ValueError):  # "43" matches the number 43 too
                matches |= Q(**{f"properties__{key}": float(value)})
            events = events.filter(matches)
    times = int(params.get("times") or 1)
    if times <= 1:
        return Q(Exists(events.filter(profile=OuterRef("pk"))))
    counted = (
        # count(*): count(id) would make PostgreSQL read every row, not just the index.
        events.exclude(profile=None).values("profile").annotate(n=Count("*")).filter(n__gte=times)
    )
    return Q(pk__in=counted.values("profile"))


def _interest_q(params: dict[str, Any], now: dt.datetime) -> Q:
    return Q(**{f"activity__interests__{params['how']}__has_key": params["category"]})


def register_selection_conditions() -> None:
    from django.utils.translation import gettext_lazy as _

    from profiles.selections import ConditionKind, Param, register_condition

    group = _("Behaviour")
    register_condition(
        ConditionKind(
            key="event",
            label=_("Did something (an event)"),
            group=group,
            params=(
                Param("event", _("event"), "text", default=ORDER_COMPLETED),
                Param("days", _("within the last … days"), "days", required=False),
                Param("times", _("at least … times"), "days", required=False, default=1),
                Param("property", _("with property"), "text", required=False),
                Param("value", _("equal to"), "text", required=False),
            ),
            compile=_event_q,
        )
    )
    register_condition(
        ConditionKind(
            key="interest",
            label=_("Interest in a product category"),
            group=group,
            params=(
                Param(
                    "how",
                    _("how"),
                    "choice",
                    lambda: [("viewed", str(_("viewed"))), ("bought", str(_("bought")))],
                ),
                Param("category", _("category"), "text"),
            ),
            compile=_interest_q,
        )
    )
    register_condition(
        ConditionKind(
            key="at_risk",
            label=_("At risk (overdue for a next order)"),
            group=group,
            params=(),
            compile=lambda p, now: Q(activity__at_risk=True),
        )
    )
    register_condition(
        ConditionKind(
            key="open_basket",
            label=_("Has an open basket"),
            group=group,
            params=(),
            compile=lambda p, now: Q(activity__last_basket_at__isnull=False),
        )
    )
    register_condition(
        ConditionKind(
            key="rfm",
            label=_("RFM score"),
            group=group,
            params=(
                Param(
                    "score",
                    _("score"),
                    "choice",
                    lambda: [
                        ("rfm_recency", str(_("recency"))),
                        ("rfm_frequency", str(_("frequency"))),
                        ("rfm_monetary", str(_("monetary value"))),
                    ],
                ),
                Param("at_least", _("at least (1–5)"), "number", default=4),
            ),
            compile=lambda p, now: Q(**{f"activity__{p['score']}__gte": p["at_least"]}),
        )
    )
