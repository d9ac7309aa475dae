"""Steps 2–5 of the scheduler: claim due sends, check them again, send, record.

- **Claim** a bounded batch atomically: the rows are locked with SKIP LOCKED (PostgreSQL)
  and stamped with a claim id by a conditional UPDATE (status still "scheduled"), so two
  workers or two ticks never hold the same send.
- **Re-check** at send time (campaigns/recheck.py, on facts fetched for the whole
  batch): the late cut-off, permission (consent or soft opt-in, suppression, pause,
  service-mail choice — consent's `send_permission` rules), exit events, the selection,
  the send window in the customer's time zone, and frequency. A failed check skips the
  send or defers it (a new due time), always with its reason.
- **Send** through the configured backend on one connection per batch. Right before the
  mail server is called the send is marked "handed over" (committed, a few sends at a
  time: HANDOVER_CHUNK); a worker that dies after that mark leaves the send "unknown"
  (visible, with its reason, never sent twice), one that dies before it leaves the send
  to be claimed again. The SMTP conversation of a chunk runs on one sender thread (it
  never touches the database) while the worker's thread checks and renders the next.
- **Record** the batch's deliveries with their message ids, in one insert.
"""

import datetime as dt
import logging
import smtplib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import make_msgid
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Field

from core.mail import TRANSIENT_MAIL_ERRORS
from events.spec import ORDER_COMPLETED

from .models import CampaignStatus, Delivery, Reason, Send, SendStatus, Template
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
# Sends marked "handed over" together, in one committed UPDATE, right before they go to
# the mail server one by one. A commit is a disk flush (~3 ms, as much as making a mail):
# per mail it held a worker to ~120 mails/s. The price of a larger chunk: a worker killed
# halfway leaves the chunk's unsent mails "unknown" (reason worker_lost, on the customer's
# timeline) with its sent ones, never sent twice; so at most HANDOVER_CHUNK - 1 customers
# visibly miss a mail. At 10 the flush is 0.3 ms per mail; more saves little.
HANDOVER_CHUNK = 10


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


def _finish(send: Send, status: str, reason: str, now: dt.datetime) -> None:
    Send.objects.filter(pk=send.pk).update(status=status, reason=reason, finished_at=now)


def sends_process(claim: uuid.UUID, *, now: dt.datetime) -> dict[str, int]:
    """Check, send and record one claimed batch. Returns counts by outcome.

    The checks read facts fetched for the whole batch (recheck.BatchFacts). Sends are
    checked and rendered as _deliver asks for them, so the next chunk is made while the
    mail server takes the one before; skips and deferrals are written per reason (and new
    due time) for the batch at the end, also when sending raised. (A worker killed before
    that leaves them claimed: the lease requeues them, to be checked again.)"""
    sends = list(
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
    counts: dict[str, int] = defaultdict(int)
    if not sends:
        return counts
    facts = BatchFacts.gather(sends, now)
    skipped: dict[str, list[int]] = defaultdict(list)
    deferred: dict[tuple[dt.datetime, str], list[int]] = defaultdict(list)
    rendering = BatchRendering()
    unchecked = iter(sends)

    def outgoing() -> Iterator[tuple[Send, EmailMultiAlternatives]]:
        """Checked and rendered one by one, as _deliver asks for them: the next chunk is
        made while the mail server takes the one before."""
        for send in unchecked:
            decision = decide(send, facts)
            if decision.action == "defer":
                assert decision.due_at is not None  # noqa: S101 - a deferral says until when
                deferred[(decision.due_at, decision.reason)].append(send.pk)
                continue
            if decision.action == "skip":
                skipped[decision.reason].append(send.pk)
                continue
            try:
                message = _message(send, facts, rendering)
            except RenderError:
                logger.exception("campaign %s: template does not render", send.campaign.key)
                message = Reason.NO_TEMPLATE
            if isinstance(message, str):
                skipped[message].append(send.pk)
                continue
            # A later send to the same customer in this batch counts this one.
            facts.frequency.count(send.profile_id, send.campaign.topic.category)
            yield send, message

    try:
        _deliver(outgoing(), now, counts, unchecked=lambda: [send.pk for send in unchecked])
    finally:
        # Also when delivering raised: the checks made so far are kept. Only while the
        # claim is still ours (as the handed-over mark).
        ours = Send.objects.filter(claim=claim, status=SendStatus.CLAIMED)
        for (due_at, reason), ids in deferred.items():
            counts[f"deferred:{reason}"] += ours.filter(pk__in=ids).update(
                status=SendStatus.SCHEDULED,
                claim=None,
                claimed_at=None,
                due_at=due_at,
                reason=reason,
                deferrals=F("deferrals") + 1,
            )
        for reason, ids in skipped.items():
            counts[f"skipped:{reason}"] += ours.filter(pk__in=ids).update(
                status=SendStatus.SKIPPED, reason=reason, finished_at=now
            )
    return dict(counts)


Outgoing = list[tuple[Send, EmailMultiAlternatives]]


@dataclass
class _Outcome:
    """What the sender thread did with a chunk: the indexes the server took and those it
    refused, and where it stopped on an error (the error itself, for the main thread)."""

    taken: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    stopped_at: int | None = None
    error: Exception | None = None


def _send_chunk(mail_connection: Any, chunk: Outgoing) -> _Outcome:
    """On the sender thread: the SMTP conversation only, never the database (Django's
    database connections belong to their thread; the main thread records everything)."""
    outcome = _Outcome()
    for index, (_send, message) in enumerate(chunk):
        message.connection = mail_connection
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused:
            outcome.refused.append(index)
            continue
        except Exception as error:  # noqa: BLE001 - handed to the main thread, which raises it
            outcome.stopped_at, outcome.error = index, error
            return outcome
        outcome.taken.append(index)
    return outcome


def _deliver(
    outgoing: Iterable[tuple[Send, EmailMultiAlternatives]],
    now: dt.datetime,
    counts: dict[str, int],
    unchecked: Callable[[], list[int]] = list,
) -> None:
    """Hand the messages to the mail server over one connection, marking them as handed
    over first (HANDOVER_CHUNK at a time, committed before the server sees any of them),
    and record the deliveries of the batch together at the end.

    One sender thread holds the SMTP conversation of a chunk while this thread checks and
    renders the next (`outgoing` is lazy): the wait for the server's answers overlaps the
    making of mails. A chunk is marked only when the one before is done, so at most one
    chunk is ever handed over and not yet sent. `unchecked`: the batch's sends not yet
    taken from `outgoing` (requeued with the rest when the server goes away)."""
    claim: uuid.UUID | None = None
    sent: Outgoing = []
    untried: set[int] = set()  # marked handed over, not yet given to the mail server
    building: Outgoing = []  # rendered, not yet marked
    in_flight: tuple[Outgoing, Future[_Outcome]] | None = None
    failure: BaseException | None = None  # the sender thread's, raised after clean-up
    mail_connection = get_connection()
    sender: ThreadPoolExecutor | None = None

    def collect() -> bool:
        """Wait for the chunk on the wire; record what became of it. False: the server
        went away, and the rest was requeued."""
        nonlocal in_flight, untried, failure
        assert in_flight is not None  # noqa: S101 - only called with a chunk in flight
        chunk, future = in_flight
        in_flight = None
        outcome = future.result()  # the thread's own crash raises here
        sent.extend(chunk[index] for index in outcome.taken)
        for index in outcome.refused:
            _finish(chunk[index][0], SendStatus.SKIPPED, Reason.REFUSED, now)
            counts[f"skipped:{Reason.REFUSED}"] += 1
        untried = set()
        if outcome.error is None:
            return True
        assert outcome.stopped_at is not None  # noqa: S101 - an error says where
        if isinstance(outcome.error, TRANSIENT_MAIL_ERRORS):
            # The server went away: this one and the rest go back to the queue.
            rest = [s.pk for s, _m in chunk[outcome.stopped_at :] + building]
            rest += unchecked()
            requeued = Send.objects.filter(
                pk__in=rest, claim=claim, status=SendStatus.CLAIMED
            ).update(status=SendStatus.SCHEDULED, claim=None, claimed_at=None, sending_at=None)
            if requeued:
                counts["requeued"] += requeued
            logger.warning("mail server unreachable; %s sends requeued", requeued)
            return False
        # Any other answer: the one it was sending is "unknown" (the server may have it).
        untried = {s.pk for s, _m in chunk[outcome.stopped_at + 1 :]}
        failure = outcome.error
        return False

    def hand_over() -> bool:
        nonlocal in_flight, untried, building, sender, claim
        if in_flight is not None and not collect():
            return False
        chunk, building = building, []
        if claim is None:
            claim = chunk[0][0].claim
            mail_connection.open()
        marked = _hand_over(claim, [send.pk for send, _m in chunk], now)
        if len(marked) < len(chunk):
            counts["lost_claim"] += len(chunk) - len(marked)
        chunk = [(send, message) for send, message in chunk if send.pk in marked]
        if chunk:
            if sender is None:
                sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-smtp")
            untried = marked
            in_flight = (chunk, sender.submit(_send_chunk, mail_connection, chunk))
        return True

    try:
        stopped = False
        for item in outgoing:
            building.append(item)
            if len(building) >= HANDOVER_CHUNK and not hand_over():
                stopped = True
                break
        if not stopped and building:
            stopped = not hand_over()
        if not stopped and in_flight is not None:
            collect()
    finally:
        try:
            if in_flight is not None:
                # This thread raised while a chunk was on the wire: wait for it (the
                # thread is always joined), so what the server took is recorded.
                collect()
        finally:
            if sender is not None:
                sender.shutdown(wait=True)
            # Also when something above raised: what the server took is recorded as
            # sent. (A worker killed before this leaves those sends handed over: "unknown".)
            _record_sent(sent, now)
            counts["sent"] += len(sent)
            if untried:
                # Never given to the server: back to "claimed", so the lease requeues them.
                Send.objects.filter(pk__in=untried, claim=claim, status=SendStatus.CLAIMED).update(
                    sending_at=None
                )
            if claim is not None:
                mail_connection.close()
            if failure is not None:
                # The mail server's answer, met on the sender thread: raised here, also
                # when this thread was raising something else (kept as its context).
                raise failure


# PostgreSQL and SQLite (3.35+) both say which rows an UPDATE changed: RETURNING.
_HAND_OVER_SQL = (
    "UPDATE campaigns_send SET sending_at = %s"
    " WHERE id IN ({ids}) AND claim = %s AND status = %s AND sending_at IS NULL"
    " RETURNING id"
)


def _hand_over(claim: uuid.UUID | None, ids: list[int], now: dt.datetime) -> set[int]:
    """Mark these sends handed over in one committed statement, only those still claimed
    by `claim` (a worker whose lease ran out must not hand over what another worker may
    send); the ids it marked, from the UPDATE's RETURNING."""
    params = [
        connection.ops.adapt_datetimefield_value(now),
        *ids,
        cast(Field, Send._meta.get_field("claim")).get_db_prep_value(claim, connection),
        SendStatus.CLAIMED.value,
    ]
    sql = _HAND_OVER_SQL.format(ids=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _record_sent(sent: list[tuple[Send, EmailMultiAlternatives]], now: dt.datetime) -> None:
    """The deliveries of the mails the server took, and their sends marked sent: two
    statements for the batch, in one transaction."""
    if not sent:
        return
    deliveries = []
    for send, message in sent:
        status = getattr(message, "anymail_status", None)
        message_id = (status.message_id if status else None) or message.extra_headers["Message-ID"]
        deliveries.append(
            Delivery(
                send=send,
                profile_id=send.profile_id,
                campaign_id=send.campaign_id,
                category=send.campaign.topic.category,
                sent_at=now,
                message_id=str(message_id)[:255],
                subject=message.subject[:200],
            )
        )
    with transaction.atomic():
        Delivery.objects.bulk_create(deliveries)
        Send.objects.filter(pk__in=[send.pk for send, _m in sent]).update(
            status=SendStatus.SENT, reason="", finished_at=now
        )


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
