"""Tracking webhooks: what the ESP tells us after a mail went out.

anymail serves every ESP's tracking webhook at `/anymail/<esp>/tracking/`, checks the
basic auth (`ANYMAIL_WEBHOOK_SECRET`) or the ESP's signature, and turns the payload into
normalised events; `tracking_received` hands each one to `delivery_event_record`:

- opened, clicked: recorded the first time only (a click implies an open);
- a hard bounce, or an ESP rejection of a bounced or invalid address: the address goes
  on the do-not-contact list;
- a spam complaint: the customer goes on the do-not-contact list and the mail's topic
  is withdrawn in the consent ledger;
- an unsubscribe at the ESP: the mail's topic is withdrawn.

The same event delivered twice changes nothing the second time. An event we cannot place
is accepted (an ESP retries anything but a 2xx) and ignored.
"""

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from anymail.signals import tracking as tracking_signal
from anymail.utils import get_anymail_setting
from django.db import transaction
from django.utils import timezone

from consent.models import Source, Status, SuppressionReason
from consent.selectors import address_hash, state_get
from consent.services import consent_withdraw, profile_lock, suppression_add
from profiles.models import Profile
from profiles.validation import email_canonical

from .models import Delivery

logger = logging.getLogger(__name__)

# What a webhook can do to a delivery and its customer.
OPENED, CLICKED, HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE = (
    "opened",
    "clicked",
    "hard_bounce",
    "complaint",
    "unsubscribe",
)
# Soft (temporary) bounces that some ESPs report as anymail's "bounced" all the same:
# Postmark's Type, Brevo's and Mandrill's event, MailerSend's type, SendGrid's bounce type,
# Amazon SES's bounceType, SparkPost's bounce classes. They must not stop mail for good.
SOFT_BOUNCE_KINDS = {"SoftBounce", "soft_bounce", "activity.soft_bounced", "blocked"}
SOFT_SES_BOUNCE_TYPES = {"Transient", "Undetermined"}
SOFT_SPARKPOST_CLASSES = {"20", "21", "22", "23", "24", "70"}


def _soft_bounce(raw: Any) -> bool:
    if not isinstance(raw, Mapping):
        return False
    if {raw.get("Type"), raw.get("event"), raw.get("type")} & SOFT_BOUNCE_KINDS:
        return True
    ses = raw.get("bounce")
    if isinstance(ses, Mapping) and ses.get("bounceType") in SOFT_SES_BOUNCE_TYPES:
        return True
    msys = raw.get("msys")
    sparkpost = msys.get("message_event") if isinstance(msys, Mapping) else None
    return isinstance(sparkpost, Mapping) and sparkpost.get("bounce_class") in (
        SOFT_SPARKPOST_CLASSES
    )


def tracking_action(event: AnymailTrackingEvent) -> str | None:
    """What an anymail tracking event means for us, or None: nothing to record."""
    kind = event.event_type
    if kind == EventType.OPENED:
        return OPENED
    if kind == EventType.CLICKED:
        return CLICKED
    if kind == EventType.BOUNCED:  # "deferred" is anymail's soft bounce
        return None if _soft_bounce(event.esp_event) else HARD_BOUNCE
    if kind == EventType.REJECTED and event.reject_reason in (
        RejectReason.BOUNCED,
        RejectReason.INVALID,
    ):
        return HARD_BOUNCE
    if kind == EventType.COMPLAINED:
        return COMPLAINT
    if kind == EventType.UNSUBSCRIBED:
        return UNSUBSCRIBE
    return None


def _delivery_find(
    *, message_id: str, send_id: str, recipient: str
) -> tuple[Delivery | None, Profile | None]:
    """The delivery the event is about: by ESP message id, else by our send id, else the
    latest mail to the customer with that address. Without a delivery, the customer with
    that address (a bounce or complaint still applies to them)."""
    address = email_canonical(recipient)
    deliveries = Delivery.objects.select_related("profile", "campaign__topic")
    if message_id:
        found = list(deliveries.filter(message_id__in={message_id, f"<{message_id}>"})[:10])
        # One message id is one mail; should an ESP reuse one, the address decides.
        matching = [d for d in found if d.profile.email.lower() == address] or found
        if matching:
            return matching[0], matching[0].profile
    if send_id.isdigit():
        delivery = deliveries.filter(send_id=int(send_id)).first()
        if delivery is not None:
            return delivery, delivery.profile
    if not address:
        return None, None
    profile = Profile.objects.filter(email__lower=address, erased_at=None).first()
    if profile is None:
        return None, None
    return deliveries.filter(profile=profile).order_by("-sent_at", "-pk").first(), profile


def _withdraw(*, profile: Profile, delivery: Delivery, at: dt.datetime) -> bool:
    """Withdraw the mail's topic, unless the customer chose again after the event (a replay
    of an old webhook must not undo a later subscription)."""
    topic = delivery.campaign.topic
    state = state_get(profile, topic)
    if state is not None and (
        state.status == Status.WITHDRAWN or (state.updated_at and state.updated_at >= at)
    ):
        return False
    return consent_withdraw(profile=profile, topic=topic, now=at, source=Source.SYSTEM)


def _first(delivery: Delivery, field: str, at: dt.datetime) -> bool:
    """Set a delivery's timestamp if it is still empty; whether this call set it. A
    conditional UPDATE, so two copies of one webhook arriving at once set it once."""
    updated = Delivery.objects.filter(pk=delivery.pk, **{field: None}).update(**{field: at})
    if updated:
        setattr(delivery, field, at)
    return bool(updated)


@transaction.atomic
def delivery_event_record(
    *,
    action: str,
    at: dt.datetime,
    esp: str,
    message_id: str = "",
    send_id: str = "",
    recipient: str = "",
) -> str:
    """Record what the ESP reported about a mail; returns what it did ("ignored" when the
    mail or customer is unknown, "unchanged" when it was recorded before).

    Opens and clicks count the first time only. A hard bounce suppresses the address that
    bounced (not the customer's newer address). A complaint suppresses the customer and
    withdraws the mail's topic in the ledger; an ESP unsubscribe withdraws it. Both refuse
    to override a choice the customer made after the event. Idempotent: a second copy of
    an event finds its delivery already marked and changes nothing."""
    delivery, profile = _delivery_find(message_id=message_id, send_id=send_id, recipient=recipient)
    if profile is None or profile.erased_at:
        return "ignored"
    profile = profile_lock(profile)  # one customer's events one at a time
    note = f"{esp} tracking webhook"
    if action in (OPENED, CLICKED):
        if delivery is None:
            return "ignored"
        changed = _first(delivery, "opened_at", at)
        if action == CLICKED:
            changed = _first(delivery, "clicked_at", at) or changed
        return action if changed else "unchanged"
    if action == HARD_BOUNCE:
        if delivery is not None and not _first(delivery, "bounced_at", at):
            return "unchanged"
        address = recipient.strip() or profile.email
        owner = profile if address_hash(address) == address_hash(profile.email) else None
        suppression_add(
            reason=SuppressionReason.HARD_BOUNCE, now=at, profile=owner, email=address, note=note
        )
        return action
    if action == COMPLAINT:
        if delivery is not None and not _first(delivery, "complained_at", at):
            return "unchanged"
        suppression_add(reason=SuppressionReason.COMPLAINT, now=at, profile=profile, note=note)
        if delivery is not None:  # the ledger shows it against the mail's topic
            _withdraw(profile=profile, delivery=delivery, at=at)
        return action
    if action == UNSUBSCRIBE and delivery is not None:
        return action if _withdraw(profile=profile, delivery=delivery, at=at) else "unchanged"
    return "ignored"


def _webhook_secured() -> bool:
    return bool(get_anymail_setting("webhook_secret", default=None))


def tracking_received(
    sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    """anymail's tracking signal: refuse an unsecured webhook, record the event."""
    if not _webhook_secured():
        # Without the secret anyone could post complaints and stop a customer's mail.
        raise AnymailWebhookValidationFailure(
            "tracking webhooks need ANYMAIL_WEBHOOK_SECRET (basic auth user:password)"
        )
    action = tracking_action(event)
    if action is None:
        return
    now = timezone.now()
    # The ESP's time when it gives one, never in the future (clock skew).
    at = min(event.timestamp, now) if event.timestamp else now
    metadata = event.metadata if isinstance(event.metadata, Mapping) else {}
    outcome = delivery_event_record(
        action=action,
        at=at,
        esp=esp_name,
        message_id=str(event.message_id or "")[:255],
        send_id=str(metadata.get("send_id") or ""),
        recipient=str(event.recipient or ""),
    )
    if outcome == "ignored":
        # No address in the log: it is personal data.
        logger.info(
            "%s %s event for an unknown mail (message id %r) ignored",
            esp_name,
            event.event_type,
            event.message_id,
        )


def connect() -> None:
    tracking_signal.connect(tracking_received, dispatch_uid="campaigns.tracking")
