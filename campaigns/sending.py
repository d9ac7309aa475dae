"""Steps 2–5 of the scheduler: claim due sends, check them again, send, record.

- **Claim** a bounded batch atomically: the rows are locked with SKIP LOCKED (PostgreSQL)
  and stamped with a claim id by a conditional UPDATE (status still "scheduled"), so two
  workers or two ticks never hold the same send.
- **Re-check** at send time: the campaign is live, the late cut-off, exit events, the
  selection, permission (consent or soft opt-in, suppression, pause, service-mail
  choice — all through consent's `send_permission`), the send window in the customer's
  time zone, and frequency. A failed check skips the send or defers it (a new due
  time), always with its reason.
- **Send** through the configured backend on one connection per batch. Right before the
  mail server is called the send is marked "handed over"; a worker that dies after
  that mark leaves the send "unknown" (visible, never sent twice), one that dies before
  it leaves the send to be claimed again.
- **Record** a delivery with the message id.
"""

import datetime as dt
import logging
import smtplib
import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction

from consent.models import Category, ContactPreference, Frequency
from consent.selectors import send_permission
from core.mail import TRANSIENT_MAIL_ERRORS
from events.models import Activity, Event
from profiles.models import Profile
from profiles.selections import selection_profiles

from .models import (
    Campaign,
    CampaignStatus,
    Delivery,
    FrequencyPolicy,
    Reason,
    Send,
    SendStatus,
    Template,
    TriggerKind,
)
from .propositions import ORDER_COMPLETED, propositions_for
from .rendering import RenderError, render, template_contexts, template_for
from .triggers import _offset

logger = logging.getLogger(__name__)

BATCH = 100
CLAIM_LOCK = 0x4B4C414D  # the advisory lock of the claim step ("KLAM")
# A claim older than this without a result belongs to a worker that died.
CLAIM_LEASE = dt.timedelta(minutes=10)
PERMISSION_REASONS = {
    "erased": Reason.ERASED,
    "paused": Reason.PAUSED,
    "no_service_mail": Reason.NO_SERVICE_MAIL,
    "withdrawn": Reason.WITHDRAWN,
    "no_consent": Reason.NO_CONSENT,
    "soft_opt_in_not_allowed": Reason.NO_CONSENT,
    "sunset": Reason.SUNSET,
}
CUSTOMER_CAPS = {
    Frequency.WEEKLY: (1, dt.timedelta(days=7)),
    Frequency.MONTHLY: (1, dt.timedelta(days=30)),
}


@dataclass
class Decision:
    action: str  # send, skip, defer
    reason: str = ""
    due_at: dt.datetime | None = None


def sends_claim(*, now: dt.datetime, limit: int = BATCH) -> uuid.UUID | None:
    """Take up to `limit` due sends of live campaigns, highest priority first. Returns the
    claim id, or None when nothing is due."""
    claim = uuid.uuid4()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Claims take turns (they are short), so that a customer's sends are never
            # split over two workers: frequency control decides per customer.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
        busy = Send.objects.filter(status=SendStatus.CLAIMED).values("profile_id")
        ids = list(
            Send.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=SendStatus.SCHEDULED,
                due_at__lte=now,
                campaign__status=CampaignStatus.LIVE,
            )
            .exclude(profile_id__in=busy)
            .order_by("-priority", "due_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return None
        claimed = Send.objects.filter(id__in=ids, status=SendStatus.SCHEDULED).update(
            status=SendStatus.CLAIMED, claim=claim, claimed_at=now
        )
    return claim if claimed else None


def sends_recover(*, now: dt.datetime) -> dict[str, int]:
    """Claims whose worker died: back to the queue if the mail server never saw them,
    otherwise "unknown" — a customer never gets a mail twice."""
    stale = Send.objects.filter(status=SendStatus.CLAIMED, claimed_at__lt=now - CLAIM_LEASE)
    requeued = stale.filter(sending_at=None).update(
        status=SendStatus.SCHEDULED, claim=None, claimed_at=None
    )
    unknown = stale.exclude(sending_at=None).update(
        status=SendStatus.UNKNOWN, reason=Reason.WORKER_LOST, finished_at=now
    )
    if unknown:
        logger.warning("%s sends were handed to the mail server by a worker that died", unknown)
    return {"requeued": requeued, "unknown": unknown}


def _local(profile: Profile, now: dt.datetime) -> dt.datetime:
    try:
        return now.astimezone(zoneinfo.ZoneInfo(profile.timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return now.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))


def _window_next(campaign: Campaign, profile: Profile, now: dt.datetime) -> dt.datetime | None:
    """None when now is inside the campaign's send window in the customer's zone, else
    the next moment the window opens."""
    local = _local(profile, now)
    start, end = campaign.window_start, campaign.window_end
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, start, tzinfo=local.tzinfo).astimezone(dt.UTC)


class _Frequency:
    """The mails each customer in a batch already got, to cap what this batch adds."""

    def __init__(self, profile_ids: list[int], now: dt.datetime) -> None:
        self.policy = FrequencyPolicy.current()
        self.now = now
        self.sent: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
        for pid, category, at in Delivery.objects.filter(
            profile_id__in=profile_ids,
            category__in=[Category.COMMERCIAL, Category.SERVICE],
            sent_at__gte=now - dt.timedelta(days=30),
        ).values_list("profile_id", "category", "sent_at"):
            self.sent[(pid, category)].append(at)
        self.choice = dict(
            ContactPreference.objects.filter(profile_id__in=profile_ids).values_list(
                "profile_id", "max_frequency"
            )
        )

    def caps(self, profile_id: int, category: str) -> list[tuple[int, dt.timedelta]]:
        if category == Category.TRANSACTIONAL:
            return []
        if category == Category.SERVICE and not self.policy.cap_service:
            return []
        caps = [
            (self.policy.max_per_day, dt.timedelta(hours=24)),
            (self.policy.max_per_week, dt.timedelta(days=7)),
        ]
        if category == Category.COMMERCIAL and self.choice.get(profile_id) in CUSTOMER_CAPS:
            caps.append(CUSTOMER_CAPS[Frequency(self.choice[profile_id])])
        return caps

    def free_at(self, profile_id: int, category: str) -> dt.datetime | None:
        """None when a mail may go now; else when the first slot frees up."""
        latest: dt.datetime | None = None
        sent = sorted(self.sent[(profile_id, category)])
        for limit, period in self.caps(profile_id, category):
            recent = [at for at in sent if at > self.now - period]
            if len(recent) >= limit:
                frees = recent[len(recent) - limit] + period if limit else self.now + period
                latest = max(latest, frees) if latest else frees
        return latest

    def count(self, profile_id: int, category: str) -> None:
        self.sent[(profile_id, category)].append(self.now)


def _exited(send: Send, campaign: Campaign, now: dt.datetime) -> bool:
    if campaign.trigger == TriggerKind.BASKET:
        activity = Activity.objects.filter(profile_id=send.profile_id).first()
        # Emptied, or changed again since (a later occurrence will come at its own time).
        if activity is None or not activity.basket or activity.last_basket_at != send.trigger_at:
            return True
    if campaign.trigger == TriggerKind.INACTIVITY and send.profile.last_order_at != send.trigger_at:
        return True
    if not campaign.exit_events:
        return False
    return Event.objects.filter(
        profile_id=send.profile_id,
        name__in=campaign.exit_events,
        timestamp__gt=send.trigger_at,
        timestamp__lte=now,
    ).exists()


def _decide(
    send: Send, now: dt.datetime, selected: set[int] | None, frequency: _Frequency
) -> Decision:
    campaign, profile = send.campaign, send.profile
    cutoff = send.trigger_at + _offset(campaign) + campaign.late_cutoff
    if now > cutoff:
        return Decision("skip", Reason.TOO_LATE)
    permission = send_permission(profile=profile, topic=campaign.topic, now=now)
    if not permission.allowed:
        reason = permission.reason
        if reason.startswith("suppressed"):
            return Decision("skip", Reason.SUPPRESSED)
        return Decision("skip", PERMISSION_REASONS.get(reason, Reason.NO_CONSENT))
    if _exited(send, campaign, now):
        return Decision("skip", Reason.EXITED)
    if selected is not None and profile.pk not in selected:
        return Decision("skip", Reason.NOT_SELECTED)
    opens = _window_next(campaign, profile, now)
    if opens is not None:
        if opens > cutoff:
            return Decision("skip", Reason.QUIET_HOURS)
        return Decision("defer", Reason.QUIET_HOURS, opens)
    frees = frequency.free_at(profile.pk, campaign.topic.category)
    if frees is not None:
        if frees > cutoff:
            return Decision("skip", Reason.CAPPED)
        return Decision("defer", Reason.CAPPED, frees)
    return Decision("send")


def _extra_context(send: Send, template: Template) -> dict[str, Any] | None:
    """What the trigger adds: the order (or other event) that set the mail in motion and,
    when the template asks for one, the proposition. None: nothing sensible to offer."""
    extra: dict[str, Any] = {}
    event = None
    if send.occurrence.startswith("event:"):
        event = Event.objects.filter(pk=send.occurrence.removeprefix("event:")).first()
        if event is not None:
            extra["event"] = event.properties
    sources = " ".join((template.subject, template.html, template.text))
    for name, provide in template_contexts.items():
        if name in sources:  # only what the template uses (a survey's links, say)
            extra.update(provide(send, template.language))
    if "proposition" in sources:
        order = event.properties if event is not None and event.name == ORDER_COMPLETED else None
        offers = propositions_for(send.profile, order=order)
        if not offers:
            return None
        extra["proposition"] = offers[0].shown(template.language)
        extra["propositions"] = [offer.shown(template.language) for offer in offers]
    return extra


def _message(send: Send, now: dt.datetime) -> EmailMultiAlternatives | str:
    """The mail for this send, or the reason there is none."""
    template = template_for(send.campaign, send.profile.language)
    if template is None:
        return Reason.NO_TEMPLATE
    extra = _extra_context(send, template)
    if extra is None:
        return Reason.NO_PROPOSITION
    rendered = render(template, send.profile, send.campaign, extra)
    domain = urlsplit(settings.SITE_URL).hostname or "klantbeeld.local"
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[send.profile.email],
        headers={
            **rendered.headers,
            "Message-ID": make_msgid(idstring=f"send{send.pk}", domain=domain),
            "X-Klantbeeld-Campaign": send.campaign.key,
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    # For an ESP through anymail: lets tracking webhooks find the send again.
    message.metadata = {"send_id": str(send.pk), "campaign": send.campaign.key}  # type: ignore[attr-defined]
    message.tags = [send.campaign.key]  # type: ignore[attr-defined]
    return message


def _finish(send: Send, status: str, reason: str, now: dt.datetime) -> None:
    Send.objects.filter(pk=send.pk).update(status=status, reason=reason, finished_at=now)


def sends_process(claim: uuid.UUID, *, now: dt.datetime) -> dict[str, int]:
    """Check, send and record one claimed batch. Returns counts by outcome."""
    sends = list(
        Send.objects.filter(claim=claim, status=SendStatus.CLAIMED)
        .select_related("campaign__topic", "campaign__selection", "profile")
        .prefetch_related("campaign__templates")
        .order_by("-priority", "due_at", "id")
    )
    counts: dict[str, int] = defaultdict(int)
    if not sends:
        return counts
    profile_ids = [s.profile_id for s in sends]
    selected: dict[int, set[int]] = {}
    for campaign in {s.campaign for s in sends if s.campaign.selection_id}:
        assert campaign.selection is not None  # noqa: S101 - filtered above
        selected[campaign.pk] = set(
            selection_profiles(campaign.selection.definition, now=now)
            .filter(pk__in=profile_ids)
            .values_list("pk", flat=True)
        )
    frequency = _Frequency(profile_ids, now)
    outgoing: list[tuple[Send, EmailMultiAlternatives]] = []
    for send in sends:
        decision = _decide(send, now, selected.get(send.campaign_id), frequency)
        if decision.action == "defer":
            Send.objects.filter(pk=send.pk).update(
                status=SendStatus.SCHEDULED,
                claim=None,
                claimed_at=None,
                due_at=decision.due_at,
                reason=decision.reason,
                deferrals=send.deferrals + 1,
            )
            counts[f"deferred:{decision.reason}"] += 1
            continue
        if decision.action == "skip":
            _finish(send, SendStatus.SKIPPED, decision.reason, now)
            counts[f"skipped:{decision.reason}"] += 1
            continue
        try:
            message = _message(send, now)
        except RenderError:
            logger.exception("campaign %s: template does not render", send.campaign.key)
            message = Reason.NO_TEMPLATE
        if isinstance(message, str):
            _finish(send, SendStatus.SKIPPED, message, now)
            counts[f"skipped:{message}"] += 1
            continue
        frequency.count(send.profile_id, send.campaign.topic.category)
        outgoing.append((send, message))
    _deliver(outgoing, now, counts)
    return dict(counts)


def _deliver(
    outgoing: list[tuple[Send, EmailMultiAlternatives]],
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    """Hand the messages to the mail server over one connection, marking each as handed
    over first and recording its delivery right after."""
    if not outgoing:
        return
    mail_connection = get_connection()
    mail_connection.open()
    try:
        for index, (send, message) in enumerate(outgoing):
            # Only while the claim is still ours: a worker whose lease ran out (its sends
            # went back to the queue) must not hand over what another worker may send.
            if not Send.objects.filter(
                pk=send.pk, claim=send.claim, status=SendStatus.CLAIMED, sending_at=None
            ).update(sending_at=now):
                counts["lost_claim"] += 1
                continue
            message.connection = mail_connection
            try:
                message.send()
            except smtplib.SMTPRecipientsRefused:
                _finish(send, SendStatus.SKIPPED, Reason.REFUSED, now)
                counts[f"skipped:{Reason.REFUSED}"] += 1
                continue
            except TRANSIENT_MAIL_ERRORS:
                # The server went away: this one and the rest go back to the queue.
                Send.objects.filter(pk__in=[s.pk for s, _m in outgoing[index:]]).update(
                    status=SendStatus.SCHEDULED, claim=None, claimed_at=None, sending_at=None
                )
                counts["requeued"] += len(outgoing) - index
                logger.warning("mail server unreachable; %s sends requeued", len(outgoing) - index)
                return
            status = getattr(message, "anymail_status", None)
            message_id = (status.message_id if status else None) or message.extra_headers[
                "Message-ID"
            ]
            with transaction.atomic():
                Delivery.objects.create(
                    send=send,
                    profile_id=send.profile_id,
                    campaign_id=send.campaign_id,
                    category=send.campaign.topic.category,
                    sent_at=now,
                    message_id=str(message_id)[:255],
                    subject=message.subject[:200],
                )
                _finish(send, SendStatus.SENT, "", now)
            counts["sent"] += 1
    finally:
        mail_connection.close()


def sends_send_due(*, now: dt.datetime, limit: int | None = None) -> dict[str, int]:
    """Claim and process batches until nothing is due (or `limit` batches)."""
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    while limit is None or batches < limit:
        claim = sends_claim(now=now)
        if claim is None:
            break
        for key, value in sends_process(claim, now=now).items():
            totals[key] += value
        batches += 1
    return dict(totals)
