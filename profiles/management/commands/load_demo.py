"""Demo customers for `make run`: a few hundred realistic Dutch and some foreign profiles.

Idempotent: a second run finds the demo customers and adds nothing.
"""

import datetime as dt
import random
import unicodedata
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from faker import Faker

from profiles import registry
from profiles.models import ChangeSource, LifecycleStage, Profile
from profiles.services import profile_create
from profiles.validation import phone_normalise

# (Faker locale, country, time zone, language, share of the demo list)
ORIGINS = [
    ("nl_NL", "NL", "Europe/Amsterdam", "nl", 0.72),
    ("nl_BE", "BE", "Europe/Brussels", "nl", 0.08),
    ("de_DE", "DE", "Europe/Berlin", "en", 0.07),
    ("en_GB", "GB", "Europe/London", "en", 0.06),
    ("fr_FR", "FR", "Europe/Paris", "en", 0.03),
    ("en_US", "NL", "America/New_York", "en", 0.02),  # expats abroad with a Dutch address
    ("pl_PL", "NL", "Europe/Amsterdam", "en", 0.02),
]
SOURCES = ["google", "instagram", "facebook", "friend", "newsletter", "tv", "podcast", ""]
DEMO_PREFIX = "demo-"


class Command(BaseCommand):
    help = "Load demo customers (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--count", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        if Profile.objects.filter(user_id__startswith=DEMO_PREFIX).exists():
            self.stdout.write("Demo customers already loaded.")
        else:
            self._customers(options)
        # Every app adds its part (consents, events, …), each idempotent by itself.
        demo = list(Profile.objects.filter(user_id__startswith=DEMO_PREFIX).order_by("user_id"))
        for name, loader in registry.demo_loaders.items():
            rng = random.Random(f"{options['seed']}-{name}")
            self.stdout.write(f"{name}: {loader(demo, rng, timezone.now())}")

    def _customers(self, options: dict[str, Any]) -> None:
        rng = random.Random(options["seed"])
        fakers = {locale: Faker(locale) for locale, *_ in ORIGINS}
        for faker in fakers.values():
            faker.seed_instance(options["seed"])
        now = timezone.now()
        created = 0
        with transaction.atomic():
            for n in range(1, options["count"] + 1):
                locale, country, tz, language, _share = rng.choices(
                    ORIGINS, weights=[o[4] for o in ORIGINS]
                )[0]
                fake = fakers[locale]
                first, last = fake.first_name(), fake.last_name()
                birth = fake.date_of_birth(minimum_age=18, maximum_age=85)
                if n % 97 == 0:
                    birth = dt.date(rng.choice([1980, 1988, 1996, 2000]), 2, 29)
                local = _ascii(f"{first}.{last}")
                data = {
                    "email": f"{local}.{n}@example.{rng.choice(['com', 'org', 'net'])}",
                    "first_name": first,
                    "last_name": last,
                    "birth_date": birth,
                    "phone": _phone(fake) if rng.random() < 0.7 else "",
                    "street": fake.street_name(),
                    "house_number": str(rng.randint(1, 250)),
                    "postal_code": _postal_code(fake, country, rng),
                    "city": fake.city(),
                    "country": country,
                    "language": language,
                    "timezone": tz,
                    "acquisition_source": rng.choice(SOURCES),
                    "custom_attributes": {"loyalty_tier": rng.choice(["bronze", "silver", "gold"])},
                }
                joined = now - dt.timedelta(days=rng.randint(0, 540), minutes=rng.randint(0, 1440))
                profile = profile_create(
                    user_id=f"{DEMO_PREFIX}{n:04d}",
                    data=data,
                    source=ChangeSource.SYSTEM,
                    now=joined,
                    note="demo data",
                )
                # A list that grew over the last year and a half, not in one afternoon.
                Profile.objects.filter(pk=profile.pk).update(created_at=joined)
                _demo_figures(profile, rng, now, joined)
                created += 1
        self.stdout.write(self.style.SUCCESS(f"Loaded {created} demo customers."))


def _phone(fake: Faker) -> str:
    """Faker's number when it is one we accept (some locales add extensions like x123)."""
    for _ in range(5):
        number = fake.phone_number()
        try:
            return phone_normalise(number)
        except ValidationError:
            continue
    return ""


def _ascii(text: str) -> str:
    """An address-safe local part: "Cegła" → "cegla", "van den Berg" → "vandenberg"."""
    plain = unicodedata.normalize("NFKD", text.replace("ł", "l")).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum() or c == ".")


def _postal_code(fake: Faker, country: str, rng: random.Random) -> str:
    if country == "NL":
        letters = "ABCDEFGHJKLMNPRTVWXZ"
        return f"{rng.randint(1000, 9999)} {rng.choice(letters)}{rng.choice(letters)}"
    if country in ("BE",):
        return str(rng.randint(1000, 9999))
    if country in ("DE", "FR"):
        return f"{rng.randint(10000, 99999)}"
    return fake.postcode()


def _demo_figures(
    profile: Profile, rng: random.Random, now: dt.datetime, joined: dt.datetime
) -> None:
    """Order figures as the event roll-ups would have left them (until demo events exist)."""
    orders = rng.choices([0, 1, 2, 3, 5, 8], weights=[35, 25, 15, 12, 8, 5])[0]
    if not orders:
        return
    first = joined + (now - joined) * rng.random() * 0.5
    last = first + (now - first) * rng.random() if orders > 1 else first
    profile.order_count = orders
    profile.total_spent = Decimal(rng.randint(25, 180) * orders) + Decimal("0.95")
    profile.first_order_at = first
    profile.last_order_at = last
    profile.last_seen_at = min(now, last + dt.timedelta(days=rng.randint(0, 20)))
    profile.lifecycle_stage = (
        LifecycleStage.LAPSED if (now - last).days > 180 else LifecycleStage.CUSTOMER
    )
    profile.save(
        update_fields=[
            "order_count",
            "total_spent",
            "first_order_at",
            "last_order_at",
            "last_seen_at",
            "lifecycle_stage",
        ]
    )
