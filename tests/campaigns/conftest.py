import datetime as dt
import itertools
import zoneinfo

import pytest
from django.core import mail

from campaigns.models import Campaign, Send
from campaigns.scheduler import campaigns_tick
from consent.models import Action, Source, Topic
from consent.services import ledger_append
from events.models import Event
from events.rollups import rollups_refresh_for
from tests.factories import ProfileFactory

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
# A Monday, 10:00 in Amsterdam.
T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=AMS)

_ids = itertools.count()


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, hours=hours, minutes=minutes)


def tick(now: dt.datetime) -> dict:
    return campaigns_tick(now)


def track(profile, event_name: str, when: dt.datetime, **properties) -> Event:
    """An event as the shop reports it, rolled up onto the customer as ingestion does."""
    event = Event.objects.create(
        message_id=f"m-{next(_ids)}",
        type="track",
        name=event_name,
        profile=profile,
        user_id=profile.user_id,
        timestamp=when,
        received_at=when,
        properties=properties,
    )
    rollups_refresh_for(profile_ids=[profile.pk], now=when)
    profile.refresh_from_db()
    return event


def confirm(profile, topic_key: str = "newsletter", when: dt.datetime = T0) -> None:
    ledger_append(
        profile=profile,
        topic=Topic.objects.get(key=topic_key),
        action=Action.CONFIRMED,
        now=when,
        source=Source.FORM,
    )


def product(product_id: str = "SH-101", name: str = "Leren sneaker", price: float = 89.95):
    return {
        "product_id": product_id,
        "name": name,
        "price": price,
        "category": "schoenen",
        "url": f"https://shop.example.nl/p/{product_id}",
        "image_url": f"https://shop.example.nl/img/{product_id}.jpg",
    }


def sent_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


def only_campaigns(*keys: str) -> None:
    """Leave just these lifecycle campaigns live, so a test reads one flow."""
    Campaign.objects.exclude(key__in=keys).update(status="paused")


def send_of(profile, key: str) -> Send:
    return Send.objects.get(profile=profile, campaign__key=key)


@pytest.fixture
def anna(db):
    return ProfileFactory(
        user_id="anna",
        email="anna@example.com",
        first_name="Anna",
        language="nl",
        timezone="Europe/Amsterdam",
    )
