"""Writes of the events app outside the ingest path (events/ingest.py): erasure."""

import datetime as dt

from profiles.models import Profile

from .models import Activity, Alias, Event
from .spec import ORDER_COMPLETED


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
