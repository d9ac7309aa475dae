"""Demo behaviour for `make run`: browsing, baskets and orders over the past year, as a
webshop's tracking would report them, then rolled up onto the demo customers."""

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction

from profiles.models import Profile

from .models import Event
from .rollups import lifecycle_nightly, rollups_refresh_for

DEMO_PREFIX = "demo-event-"
SHOP = "https://shop.example.nl"

# (product id, name, category, price)
CATALOGUE = [
    ("SH-101", "Leren sneaker wit", "schoenen", "89.95"),
    ("SH-102", "Suède loafer cognac", "schoenen", "119.00"),
    ("SH-103", "Wandelschoen Veluwe", "schoenen", "139.95"),
    ("SH-104", "Regenlaars", "schoenen", "49.95"),
    ("JA-201", "Wollen jas navy", "jassen", "229.00"),
    ("JA-202", "Regenjas geel", "jassen", "99.95"),
    ("JA-203", "Donsjack zwart", "jassen", "179.00"),
    ("TA-301", "Leren schoudertas", "tassen", "149.00"),
    ("TA-302", "Canvas shopper", "tassen", "34.95"),
    ("TA-303", "Laptoprugzak", "tassen", "79.95"),
    ("AC-401", "Wollen sjaal", "accessoires", "39.95"),
    ("AC-402", "Leren riem", "accessoires", "44.95"),
    ("AC-403", "Sokken 3-pack", "accessoires", "14.95"),
    ("AC-404", "Schoenverzorgingsset", "accessoires", "24.95"),
    ("SP-501", "Hardloopschoen Tempo", "sport", "129.95"),
    ("SP-502", "Sportlegging", "sport", "49.95"),
    ("SP-503", "Trainingsjack", "sport", "69.95"),
]
PAGES = [
    ("Home", "/"),
    ("Nieuw binnen", "/nieuw"),
    ("Sale", "/sale"),
    ("Klantenservice", "/service"),
]
CAMPAIGNS = [
    {"source": "google", "medium": "cpc", "name": "merk"},
    {"source": "instagram", "medium": "social", "name": "najaar"},
    {"source": "newsletter", "medium": "email", "name": "weekmail"},
    {"source": "tradetracker", "medium": "affiliate", "name": "kortingscode"},
]


def _product(item: tuple[str, str, str, str], quantity: int = 1) -> dict[str, Any]:
    product_id, name, category, price = item
    return {
        "product_id": product_id,
        "name": name,
        "category": category,
        "price": float(price),
        "quantity": quantity,
        "url": f"{SHOP}/p/{product_id.lower()}",
        "image_url": f"{SHOP}/img/{product_id.lower()}.jpg",
    }


class _Stream:
    """The events of one customer, built in time order."""

    def __init__(self, profile: Profile, rng: random.Random, cookie_consent: bool) -> None:
        self.profile, self.rng = profile, rng
        self.rows: list[Event] = []
        self.context: dict[str, Any] = {
            "locale": "nl-NL" if profile.language == "nl" else "en-GB",
            "timezone": profile.timezone,
            "ip": f"198.51.100.{rng.randint(1, 254)}",
        }
        if cookie_consent:
            self.context["consent"] = {"categoryPreferences": {"personalisation": True}}

    def add(self, kind: str, name: str, at: dt.datetime, properties: dict, **context: Any) -> None:
        self.rows.append(
            Event(
                message_id=f"{DEMO_PREFIX}{uuid.UUID(int=self.rng.getrandbits(128))}",
                type=kind,
                name=name,
                profile=self.profile,
                user_id=self.profile.user_id,
                timestamp=at,
                received_at=at + dt.timedelta(seconds=self.rng.randint(0, 5)),
                properties=properties,
                context={**self.context, **context},
            )
        )

    def visit(self, at: dt.datetime, *, buy: bool, campaign: dict | None = None) -> dt.datetime:
        """A session: a landing page, a few products viewed, maybe some put in the basket
        and an order. Returns when it ended."""
        rng = self.rng
        title, path = rng.choice(PAGES)
        extra = {"campaign": campaign} if campaign else {}
        self.add("page", title, at, {"title": title, "url": SHOP + path, "path": path}, **extra)
        favourite = rng.choice(CATALOGUE)[2]
        viewed = [
            item
            for item in rng.sample(CATALOGUE, rng.randint(1, 5))
            if item[2] == favourite or rng.random() < 0.5
        ] or [rng.choice(CATALOGUE)]
        for item in viewed:
            at += dt.timedelta(seconds=rng.randint(20, 240))
            self.add("track", "Product Viewed", at, _product(item))
        basket = [item for item in viewed if rng.random() < (0.7 if buy else 0.25)]
        for item in basket:
            at += dt.timedelta(seconds=rng.randint(10, 90))
            self.add("track", "Product Added", at, _product(item))
        if buy and basket:
            at += dt.timedelta(minutes=rng.randint(2, 15))
            products = [_product(item, rng.choice([1, 1, 1, 2])) for item in basket]
            total = sum(Decimal(str(p["price"])) * p["quantity"] for p in products)
            shipping = Decimal("0") if total >= 50 else Decimal("4.95")
            self.add(
                "track",
                "Order Completed",
                at,
                {
                    "order_id": f"NL-{rng.randint(100000, 999999)}",
                    "total": float(total + shipping),
                    "revenue": float(total),
                    "shipping": float(shipping),
                    "currency": "EUR",
                    "products": products,
                },
            )
        return at


@transaction.atomic
def load_demo_events(profiles: list[Profile], rng: random.Random, now: dt.datetime) -> str:
    if Event.objects.filter(message_id__startswith=DEMO_PREFIX).exists():
        return "demo events already loaded"
    year_ago = now - dt.timedelta(days=365)
    rows: list[Event] = []
    browsers = open_baskets = closed = 0
    for profile in profiles:
        roll = rng.random()
        if roll < 0.2:
            continue  # signed up, never seen since
        stream = _Stream(profile, rng, cookie_consent=rng.random() < 0.6)
        is_buyer = roll >= 0.5
        sessions = rng.randint(2, 14) if is_buyer else rng.randint(1, 5)
        start = year_ago + (now - year_ago) * rng.random() * 0.6
        moments = sorted(start + (now - start) * rng.random() for _ in range(sessions))
        # Some customers stopped ordering a while ago: they show up as lapsed or at risk.
        stops_at = now - dt.timedelta(days=rng.choice([0, 0, 0, 60, 200, 250]))
        for n, at in enumerate(moments):
            campaign = rng.choice(CAMPAIGNS) if n == 0 and rng.random() < 0.7 else None
            buy = is_buyer and at < stops_at and (n == 0 or rng.random() < 0.5)
            stream.visit(at, buy=buy, campaign=campaign)
        if rng.random() < 0.12:
            # A basket left behind in the last two days: the abandoned-basket mail's audience.
            at = now - dt.timedelta(hours=rng.randint(2, 47))
            item = rng.choice(CATALOGUE)
            stream.add("track", "Product Viewed", at, _product(item))
            stream.add("track", "Product Added", at + dt.timedelta(minutes=1), _product(item))
            open_baskets += 1
        if not is_buyer and rng.random() < 0.04:
            stream.add("track", "Account Closed", now - dt.timedelta(days=rng.randint(5, 90)), {})
            closed += 1
        browsers += not is_buyer
        rows.extend(stream.rows)
    Event.objects.bulk_create(rows, batch_size=2000)
    rollups_refresh_for(profile_ids=[p.pk for p in profiles], now=now)
    lifecycle_nightly(now=now)
    ordered = Profile.objects.filter(pk__in=[p.pk for p in profiles], order_count__gt=0).count()
    return (
        f"{len(rows)} events: {ordered} customers with orders, {browsers} who only browsed, "
        f"{open_baskets} open baskets, {closed} closed accounts"
    )
