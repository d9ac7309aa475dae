"""Demo mail history for `make run`: what the lifecycle campaigns sent over the past
months (with opens, clicks, a bounce and skips with their reasons), so reports, the
timeline and selections on campaign response have something to show. Records only:
no mail goes out."""

import datetime as dt
import random

from django.db import transaction

from profiles.models import Profile

from .models import Campaign, Delivery, Reason, Send

DEMO_PREFIX = "demo:"


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
