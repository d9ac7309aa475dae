"""Writes of the campaign domain that are not the scheduler's or the sender's: what
erasure does to a person's mails (registered as an eraser from ready())."""

import datetime as dt

from profiles.models import Profile

from .models import Delivery, Send


def deliveries_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Erasure: what was sent stays counted (campaign reports), without the subject
    (it may carry the name) or the message id; nothing still waiting is sent."""
    Delivery.objects.filter(profile=profile).update(subject="", message_id="")
    Send.objects.filter(profile=profile, status__in=["scheduled", "claimed"]).update(
        status="skipped", reason="erased", finished_at=now
    )
