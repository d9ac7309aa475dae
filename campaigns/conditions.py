"""What a selection can ask of campaigns: a response to a mail (received, opened,
clicked, ordered within the conversion window), registered from ready()."""

import datetime as dt
from typing import Any

from django.db.models import Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.fields import DateTimeField
from django.utils.translation import gettext_lazy as _

from events.models import Event
from events.spec import ORDER_COMPLETED
from profiles.selections import ConditionKind, Param, register_condition

from .models import Campaign, Delivery
from .selectors import CONVERSION_WINDOW


def _campaign_choices() -> list[tuple[str, str]]:
    return [("", "—"), *((c.key, c.name) for c in Campaign.objects.order_by("name"))]


def _response_q(params: dict[str, Any], now: dt.datetime) -> Q:
    deliveries = Delivery.objects.filter(profile=OuterRef("pk"))
    if params.get("campaign"):
        deliveries = deliveries.filter(campaign__key=params["campaign"])
    if params.get("days") is not None:
        deliveries = deliveries.filter(sent_at__gte=now - dt.timedelta(days=params["days"]))
    response = params["response"]
    if response == "opened":
        deliveries = deliveries.exclude(opened_at=None)
    elif response == "clicked":
        deliveries = deliveries.exclude(clicked_at=None)
    elif response == "converted":
        window_end = ExpressionWrapper(
            OuterRef("sent_at") + CONVERSION_WINDOW, output_field=DateTimeField()
        )
        orders = Event.objects.filter(
            profile=OuterRef("profile"),
            name=ORDER_COMPLETED,
            timestamp__gt=OuterRef("sent_at"),
            timestamp__lte=window_end,
        )
        deliveries = deliveries.filter(Exists(orders))
    return Q(Exists(deliveries))


def register_selection_conditions() -> None:
    register_condition(
        ConditionKind(
            key="campaign_response",
            label=_("Response to a mail"),
            group=_("Campaigns"),
            params=(
                Param("campaign", _("campaign"), "choice", _campaign_choices, required=False),
                Param(
                    "response",
                    _("response"),
                    "choice",
                    lambda: [
                        ("received", str(_("received"))),
                        ("opened", str(_("opened"))),
                        ("clicked", str(_("clicked"))),
                        ("converted", str(_("ordered within 7 days"))),
                    ],
                ),
                Param("days", _("in the last … days"), "days", required=False),
            ),
            compile=_response_q,
        )
    )
