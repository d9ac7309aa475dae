"""Steps 2–5 of the scheduler: claim due sends, check them again, send, record.

- **Claim** a bounded batch atomically: the rows are locked with SKIP LOCKED (PostgreSQL)
  and stamped with a claim id by a conditional UPDATE (status still "scheduled"), so two
  workers or two ticks never hold the same send.
- **Re-check** at send time (campaigns/recheck.py, on facts fetched for the whole
  batch): the late cut-off, permission (consent or soft opt-in, suppression, pause,
  service-mail choice — consent's `send_permission` rules), exit events, the selection,
  the send window in the customer's time zone, and frequency. A failed check skips the
  send or defers it (a new due time), always with its reason.
- **Send** (campaigns/handover.py) through the configured backend on one connection per
  batch. Right before the mail server is called the send is marked "handed over"
  (committed, a few sends at a time: HANDOVER_CHUNK); a worker that dies after that mark
  leaves the send "unknown" (visible, with its reason, never sent twice), one that dies
  before it leaves the send to be claimed again. The SMTP conversation of a chunk runs
  on one sender thread while the worker's thread checks and renders the next.
- **Record** the batch's deliveries with their message ids, in one insert.
"""

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F

from events.spec import ORDER_COMPLETED

from . import handover
from .models import CampaignStatus, Reason, Send, SendStatus, Template
from .propositions import propositions_for
from .recheck import BatchFacts, decide
from .rendering import (
    BatchRendering,
    Rendered,
    RenderError,
    render,
    template_contexts,
    template_for,
)

logger = logging.getLogger(__name__)

BATCH = 100
CLAIM_LOCK = 0x4B4C414D  # the advisory lock of the claim step ("KLAM")
# A claim older than this without a result belongs to a worker that died.
CLAIM_LEASE = dt.timedelta(minutes=10)


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


def _extra_context(send: Send, template: Template, facts: BatchFacts) -> dict[str, Any] | None:
    """What the trigger adds: the order (or other event) that set the mail in motion and,
    when the template asks for one, the proposition. None: nothing sensible to offer."""
    extra: dict[str, Any] = {}
    event = None
    if send.occurrence.startswith("event:"):
        event = facts.trigger_events.get(int(send.occurrence.removeprefix("event:")))
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


def _message(send: Send, facts: BatchFacts, batch: BatchRendering) -> EmailMultiAlternatives | str:
    """The mail for this send, or the reason there is none."""
    template = template_for(send.campaign, send.profile.language)
    if template is None:
        return Reason.NO_TEMPLATE
    extra = _extra_context(send, template, facts)
    if extra is None:
        return Reason.NO_PROPOSITION
    return mail_build(send, render(template, send.profile, send.campaign, extra, batch=batch))


def mail_build(send: Send, rendered: Rendered) -> EmailMultiAlternatives:
    """The message of a send from its rendered parts: headers, both parts, and what an ESP
    needs to find the send again."""
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


def _claimed(claim: uuid.UUID) -> list[Send]:
    """The sends of a claim, with what checking and rendering them reads."""
    return list(
        Send.objects.filter(claim=claim, status=SendStatus.CLAIMED)
        .select_related(
            "campaign__topic",
            "campaign__selection",
            "profile__contact_preference",
            "profile__activity",
        )
        .prefetch_related("campaign__templates")
        .order_by("-priority", "due_at", "id")
    )


class _Checks:
    """A claimed batch's sends checked again at send time, one by one as the handover
    asks for them (so the next chunk is made while the mail server takes the one
    before). What is not sent is kept per reason (and new due time) and written for the
    batch at once by `record`."""

    def __init__(self, sends: list[Send], facts: BatchFacts) -> None:
        self.facts = facts
        self.rendering = BatchRendering()
        self.pending = iter(sends)
        self.skipped: dict[str, list[int]] = defaultdict(list)
        self.deferred: dict[tuple[dt.datetime, str], list[int]] = defaultdict(list)

    def mails(self) -> Iterator[tuple[Send, EmailMultiAlternatives]]:
        """The sends that pass, each with its mail."""
        for send in self.pending:
            message = self._check(send)
            if message is not None:
                yield send, message

    def unchecked(self) -> list[int]:
        """The sends not checked yet (the handover requeues them if the server goes)."""
        return [send.pk for send in self.pending]

    def _check(self, send: Send) -> EmailMultiAlternatives | None:
        decision = decide(send, self.facts)
        if decision.action == "defer":
            assert decision.due_at is not None  # noqa: S101 - a deferral says until when
            self.deferred[(decision.due_at, decision.reason)].append(send.pk)
            return None
        if decision.action == "skip":
            self.skipped[decision.reason].append(send.pk)
            return None
        try:
            message = _message(send, self.facts, self.rendering)
        except RenderError:
            logger.exception("campaign %s: template does not render", send.campaign.key)
            message = Reason.NO_TEMPLATE
        if isinstance(message, str):
            self.skipped[message].append(send.pk)
            return None
        # A later send to the same customer in this batch counts this one.
        self.facts.frequency.count(send.profile_id, send.campaign.topic.category)
        return message

    def record(self, claim: uuid.UUID, *, now: dt.datetime, counts: dict[str, int]) -> None:
        """Write the skips and deferrals (also when delivering raised: the checks made so
        far are kept), only while the claim is still ours, as the handed-over mark."""
        ours = Send.objects.filter(claim=claim, status=SendStatus.CLAIMED)
        for (due_at, reason), ids in self.deferred.items():
            counts[f"deferred:{reason}"] += ours.filter(pk__in=ids).update(
                status=SendStatus.SCHEDULED,
                claim=None,
                claimed_at=None,
                due_at=due_at,
                reason=reason,
                deferrals=F("deferrals") + 1,
            )
        for reason, ids in self.skipped.items():
            counts[f"skipped:{reason}"] += ours.filter(pk__in=ids).update(
                status=SendStatus.SKIPPED, reason=reason, finished_at=now
            )


def sends_process(claim: uuid.UUID, *, now: dt.datetime) -> dict[str, int]:
    """Check, send and record one claimed batch. Returns counts by outcome.

    The checks read facts fetched for the whole batch (recheck.BatchFacts); the mails go
    out through campaigns/handover.py. (A worker killed before the skips and deferrals
    are written leaves them claimed: the lease requeues them, to be checked again.)"""
    sends = _claimed(claim)
    counts: dict[str, int] = defaultdict(int)
    if not sends:
        return counts
    checks = _Checks(sends, BatchFacts.gather(sends, now))
    try:
        handover.deliver(checks.mails(), now, counts, unchecked=checks.unchecked)
    finally:
        checks.record(claim, now=now, counts=counts)
    return dict(counts)


def sends_send_due(*, now: dt.datetime, limit: int | None = None) -> dict[str, int]:
    """Claim and process batches until nothing is due (or `limit` batches), or until the
    mail server is unavailable (its mails requeued: the next tick tries again, rather
    than this one trying again and again)."""
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    while limit is None or batches < limit:
        claim = sends_claim(now=now)
        if claim is None:
            break
        counts = sends_process(claim, now=now)
        for key, value in counts.items():
            totals[key] += value
        batches += 1
        if counts.get("requeued"):
            break
    return dict(totals)
