"""Reads of the campaign domain, and what campaigns plug into the registries below them:
the GDPR export and erasure, the admin timeline, and selection conditions on campaign
response (received, opened, clicked, converted)."""

import datetime as dt
from typing import Any

from profiles.models import Profile
from profiles.registry import TimelineItem

from .models import Campaign, CampaignStatus, Delivery, Send

# An order within this long after a mail counts as a conversion of that mail.
CONVERSION_WINDOW = dt.timedelta(days=7)


def deliveries_export(profile: Profile) -> list[dict[str, Any]]:
    """Every mail sent to the person, oldest first (GDPR export)."""
    return [
        {
            "campaign": d.campaign.key,
            "subject": d.subject,
            "sent_at": d.sent_at.isoformat(),
            "accepted_at": d.accepted_at.isoformat() if d.accepted_at else None,
            "opened_at": d.opened_at.isoformat() if d.opened_at else None,
            "clicked_at": d.clicked_at.isoformat() if d.clicked_at else None,
            "bounced_at": d.bounced_at.isoformat() if d.bounced_at else None,
            "complained_at": d.complained_at.isoformat() if d.complained_at else None,
        }
        for d in Delivery.objects.filter(profile=profile)
        .select_related("campaign")
        .order_by("sent_at", "id")
    ]


def deliveries_timeline(profile: Profile, limit: int) -> list[Any]:
    from django.urls import reverse
    from django.utils.translation import gettext

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


# Good practice: at least 3 and at most 8 live campaigns besides the basic lifecycle ones.
GOOD_PRACTICE = (3, 8)


def live_extra_count() -> int:
    return Campaign.objects.filter(status=CampaignStatus.LIVE, is_default=False).count()
