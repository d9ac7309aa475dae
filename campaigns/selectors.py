"""Reads of the campaign domain, and what campaigns plug into the registries below them:
the GDPR export and erasure, the admin timeline, and selection conditions on campaign
response (received, opened, clicked, converted)."""

import datetime as dt
from typing import Any

from django.db.models import Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.fields import DateTimeField

from events.models import Event
from events.spec import ORDER_COMPLETED
from profiles.models import Profile

from .models import Campaign, Delivery, Send

# An order within this long after a mail counts as a conversion of that mail.
CONVERSION_WINDOW = dt.timedelta(days=7)


def deliveries_export(profile: Profile) -> list[dict[str, Any]]:
    """Every mail sent to the person, oldest first (GDPR export)."""
    return [
        {
            "campaign": d.campaign.key,
            "subject": d.subject,
            "sent_at": d.sent_at.isoformat(),
            "opened_at": d.opened_at.isoformat() if d.opened_at else None,
            "clicked_at": d.clicked_at.isoformat() if d.clicked_at else None,
            "bounced_at": d.bounced_at.isoformat() if d.bounced_at else None,
            "complained_at": d.complained_at.isoformat() if d.complained_at else None,
        }
        for d in Delivery.objects.filter(profile=profile)
        .select_related("campaign")
        .order_by("sent_at", "id")
    ]


def deliveries_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Erasure: what was sent stays counted (campaign reports), without the subject
    (it may carry the name) or the message id; nothing still waiting is sent."""
    Delivery.objects.filter(profile=profile).update(subject="", message_id="")
    Send.objects.filter(profile=profile, status__in=["scheduled", "claimed"]).update(
        status="skipped", reason="erased", finished_at=now
    )


def deliveries_timeline(profile: Profile, limit: int) -> list[Any]:
    from django.urls import reverse
    from django.utils.translation import gettext

    from profiles.registry import TimelineItem

    items = []
    for delivery in (
        Delivery.objects.filter(profile=profile)
        .select_related("campaign")
        .order_by("-sent_at", "-id")[:limit]
    ):
        marks = [
            label
            for label, at in (
                (gettext("opened"), delivery.opened_at),
                (gettext("clicked"), delivery.clicked_at),
                (gettext("bounced"), delivery.bounced_at),
                (gettext("complained"), delivery.complained_at),
            )
            if at
        ]
        items.append(
            TimelineItem(
                at=delivery.sent_at,
                kind=gettext("mail"),
                title=f"{delivery.campaign.name}: {delivery.subject}",
                detail=", ".join(marks),
                url=reverse("admin:campaigns_delivery_change", args=[delivery.pk]),
            )
        )
    # Not sent, and handed over by a worker that died (sent or not: nobody knows).
    for send in (
        Send.objects.filter(profile=profile, status__in=["skipped", "unknown"])
        .select_related("campaign")
        .order_by("-finished_at")[:limit]
    ):
        items.append(
            TimelineItem(
                at=send.finished_at or send.due_at,
                kind=gettext("mail not sent")
                if send.status == "skipped"
                else gettext("mail, outcome unknown"),
                title=send.campaign.name,
                detail=send.get_reason_display(),
            )
        )
    return items


# --- Conditions for selections -----------------------------------------------------------


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
    from django.utils.translation import gettext_lazy as _

    from profiles.selections import ConditionKind, Param, register_condition

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
