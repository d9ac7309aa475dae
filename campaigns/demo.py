"""Demo mail history for `make run`: what the lifecycle campaigns sent over the past
months (with opens, clicks, a bounce and skips with their reasons), so reports, the
timeline and selections on campaign response have something to show. Records only:
no mail goes out."""

import datetime as dt
import random
from typing import Any

from django.db import transaction

from consent.models import Topic
from profiles.models import Profile

from .models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Reason,
    Reentry,
    Send,
    Template,
    TriggerKind,
)

DEMO_PREFIX = "demo:"

# A marketer's own programme next to the lifecycle defaults: three live campaigns, so the
# dashboard's 3–8 count is within good practice. Per language: subject, preheader,
# heading (the first name is added), text, button.
DEMO_CAMPAIGNS: list[tuple[str, str, dict[str, Any], dict[str, tuple[str, ...]]]] = [
    (
        "demo-jubileum",
        "Klantjubileum",
        {
            "trigger": TriggerKind.YEARLY,
            "trigger_field": "first_order_at",
            "send_at_local_time": dt.time(10, 0),
            "reentry": Reentry.EACH,
            "priority": 40,
        },
        {
            "nl": (
                "Al een jaar klant: dank u wel!",
                "Een jaar geleden deed u uw eerste bestelling.",
                "Dank u wel",
                "Vandaag is het een jaar geleden dat u voor het eerst bij ons bestelde. "
                "Fijn dat u er bent.",
                "Naar de winkel",
            ),
            "en": (
                "A year with us: thank you!",
                "A year ago you placed your first order.",
                "Thank you",
                "It is a year today since your first order with us. We are glad to have you.",
                "Visit the shop",
            ),
        },
    ),
    (
        "demo-tiende-bestelling",
        "Tiende bestelling",
        {
            "trigger": TriggerKind.MILESTONE,
            "trigger_number": 10,
            "reentry": Reentry.ONCE,
            "priority": 50,
        },
        {
            "nl": (
                "Uw tiende bestelling!",
                "Daar zijn we trots op.",
                "Uw tiende bestelling",
                "Tien keer heeft u voor ons gekozen. Dank u voor uw vertrouwen.",
                "Bekijk de nieuwe collectie",
            ),
            "en": (
                "Your tenth order!",
                "We are proud of that.",
                "Your tenth order",
                "Ten times you chose us. Thank you for your trust.",
                "See the new collection",
            ),
        },
    ),
    (
        "demo-review",
        "Reviewverzoek na bestelling",
        {
            "trigger": TriggerKind.EVENT,
            "trigger_event": "Order Completed",
            "delay": dt.timedelta(days=10),
            "reentry": Reentry.DAYS,
            "reentry_days": 60,
            "priority": 20,
        },
        {
            "nl": (
                "Hoe bevalt uw bestelling?",
                "Uw review helpt andere klanten.",
                "Hoe bevalt het",
                "U heeft onlangs bij ons besteld. Wilt u in een paar woorden vertellen wat u "
                "ervan vindt?",
                "Schrijf een review",
            ),
            "en": (
                "How do you like your order?",
                "Your review helps other customers.",
                "How do you like it",
                "You recently ordered from us. Would you tell us in a few words what you "
                "think of it?",
                "Write a review",
            ),
        },
    ),
]
FIRST_NAME = "{% if customer.first_name %}, {{ customer.first_name }}{% endif %}"
SHOP_URL = "{{ shop.shop_url }}"


@transaction.atomic
def load_demo_campaigns(profiles: list[Profile], rng: random.Random, now: dt.datetime) -> str:

    topic = Topic.objects.filter(key="newsletter").first()
    if topic is None:
        return "no newsletter topic"
    made = 0
    for key, name, fields, templates in DEMO_CAMPAIGNS:
        campaign, created = Campaign.objects.get_or_create(
            key=key,
            defaults={"name": name, "topic": topic, "status": CampaignStatus.LIVE, **fields},
        )
        if not created:
            continue
        made += 1
        for language, (subject, preheader, heading, text, button) in templates.items():
            Template.objects.create(
                campaign=campaign,
                language=language,
                subject=subject,
                preheader=preheader,
                html=f"<h1>{heading}{FIRST_NAME}</h1><p>{text}</p>"
                f'<p><a class="button" href="{SHOP_URL}">{button}</a></p>',
                text=f"{heading}{FIRST_NAME}\n\n{text}\n{SHOP_URL}\n",
            )
    return f"{made} campaigns of the marketer's own, live"


@transaction.atomic
def load_demo_deliveries(profiles: list[Profile], rng: random.Random, now: dt.datetime) -> str:
    if Send.objects.filter(occurrence__startswith=DEMO_PREFIX).exists():
        return "demo mail history already loaded"
    campaigns = list(Campaign.objects.filter(is_default=True).exclude(key="sunset"))
    if not campaigns:
        return "no campaigns"
    sends, deliveries = [], []
    skipped = 0
    for profile in profiles:
        for n in range(rng.choice([0, 1, 2, 3, 4, 6])):
            campaign = rng.choice(campaigns)
            at = now - dt.timedelta(days=rng.uniform(1, 120), hours=rng.uniform(0, 12))
            send = Send(
                campaign=campaign,
                profile=profile,
                occurrence=f"{DEMO_PREFIX}{n}",
                trigger_at=at,
                due_at=at,
                priority=campaign.priority,
                created_at=at,
                finished_at=at,
            )
            if rng.random() < 0.15:
                send.status = "skipped"
                send.reason = rng.choice(
                    [Reason.NO_CONSENT, Reason.CAPPED, Reason.EXITED, Reason.QUIET_HOURS]
                )
                skipped += 1
            else:
                send.status = "sent"
            sends.append(send)
    Send.objects.bulk_create(sends, batch_size=1000)
    for send in sends:
        if send.status != "sent":
            continue
        opened = (
            send.due_at + dt.timedelta(hours=rng.uniform(0.2, 30)) if rng.random() < 0.45 else None
        )
        clicked = (
            opened + dt.timedelta(minutes=rng.uniform(1, 20))
            if opened and rng.random() < 0.35
            else None
        )
        deliveries.append(
            Delivery(
                send=send,
                profile=send.profile,
                campaign=send.campaign,
                category=send.campaign.topic.category,
                sent_at=send.due_at,
                accepted_at=send.due_at,
                message_id=f"<demo-{send.pk}@klantbeeld.local>",
                subject=send.campaign.name,
                opened_at=opened,
                clicked_at=clicked,
                bounced_at=send.due_at if rng.random() < 0.01 else None,
            )
        )
    Delivery.objects.bulk_create(deliveries, batch_size=1000)
    opens = sum(1 for d in deliveries if d.opened_at)
    return f"{len(deliveries)} mails sent ({opens} opened), {skipped} skipped with a reason"
