"""Reads (and the GDPR parts) of the events app."""

from typing import Any

from profiles.models import Profile
from profiles.registry import TimelineItem

from .models import Activity, Event


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
