"""What a selection can ask of behaviour: an event done (with a property, N times, within
D days), an interest in a category, at risk, an open basket, an RFM score (registered
with profiles.selections from ready())."""

import contextlib
import datetime as dt
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from profiles.selections import ConditionKind, Param, register_condition

from .models import Event
from .spec import COMMON_EVENTS, ORDER_COMPLETED


def _event_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in COMMON_EVENTS]


def _event_q(params: dict[str, Any], now: dt.datetime) -> Q:
    """Did the customer do X (with property P = V) at least N times within D days?"""
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
