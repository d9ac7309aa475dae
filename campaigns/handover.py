"""Step 4 of the scheduler: a claimed batch's mails handed to the mail server, chunk by
chunk, without ever sending one twice, and with every mail that may have gone out on
record the moment it may have gone out.

A send passes through these states here (`Handover` holds them, one attribute each):

    building ──mark + delivery row, commit──▶ untried ──to the sender thread──▶ in flight
                                                                                  │
          sent (accepted_at) ◀── the server took it ─────────────────────────────┤
          skipped (refused) ◀── 5xx to the recipient or the message (row removed) │
          deferred ◀── 4xx to the recipient or the message: try later (removed)   │
          scheduled again ◀── the server went away (it and the rest: requeued)   │
          "unknown" ◀── no answer after DATA, or any other error (row kept) ◀────┘

- **building**: checked and rendered, not yet marked.
- **untried**: marked "handed over" (`sending_at`) and given a delivery row with no
  `accepted_at` yet, HANDOVER_CHUNK at a time in one committed transaction, before the
  server sees any of them. If the batch stops here the rows go and the sends return to
  plain "claimed", and the lease requeues them.
- **in flight**: one chunk at a time on the sender thread, which holds the SMTP
  conversation (it never touches the database) while this thread checks and renders
  the next chunk: the wait for the server's answers overlaps the making of mails.
- **sent**: what the server took is recorded (`accepted_at`, the send "sent") in the same
  transaction that marks the next chunk, and at the end of the batch.

core.mail.mail_error_kind sorts the mail server's answers; only an error that may come
after the server took the message (a connection lost or a timeout after DATA, or an
answer we cannot read) makes a send "unknown", and nothing the server did not take is
ever marked sent. So a worker killed at any moment leaves at most one chunk
(HANDOVER_CHUNK) whose outcome nobody knows, and a mail server that goes away at most one
mail: their delivery rows already exist — frequency control counts them, and a
tracking webhook finds them by their Message-ID — and the lease turns their sends
"unknown". None is ever sent twice.
"""

import contextlib
import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Field

from core.mail import MailOutcomeUnknown, mail_error_code, mail_error_kind

from .models import Delivery, Reason, Send, SendStatus

logger = logging.getLogger(__name__)

# Sends marked "handed over" together, in one committed UPDATE, right before they go to
# the mail server one by one. A commit is a disk flush (~3 ms, as much as making a mail):
# per mail it held a worker to ~120 mails/s. The price of a larger chunk: a worker killed
# halfway leaves the chunk's unsent mails "unknown" (reason worker_lost, on the customer's
# timeline) with its sent ones, never sent twice; so at most HANDOVER_CHUNK - 1 customers
# visibly miss a mail. At 10 the flush is 0.3 ms per mail; more saves little.
HANDOVER_CHUNK = 10

# A mail the server asked to try again later (4xx: greylisting, a full mailbox, a busy
# server) is due again after this, doubled on each deferral up to MAIL_RETRY_MAX; the
# campaign's late cut-off ends the retries (skipped "too late").
MAIL_RETRY_DELAY = dt.timedelta(minutes=10)
MAIL_RETRY_MAX = dt.timedelta(hours=4)

Outgoing = list[tuple[Send, EmailMultiAlternatives]]


@dataclass
class ChunkOutcome:
    """What the sender thread did with a chunk: the indexes the server took, refused for
    good and refused for now, and where it stopped on an error (the error and its kind,
    core.mail.mail_error_kind, for the main thread)."""

    taken: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    stopped_at: int | None = None
    error: Exception | None = None
    kind: str = ""


def _send_chunk(mail_connection: Any, chunk: Outgoing) -> ChunkOutcome:
    """On the sender thread: the SMTP conversation only, never the database (Django's
    database connections belong to their thread; the main thread records everything)."""
    outcome = ChunkOutcome()
    for index, (send, message) in enumerate(chunk):
        message.connection = mail_connection
        try:
            message.send()
        except Exception as error:  # noqa: BLE001 - sorted here, raised on the main thread
            kind = mail_error_kind(error)
            # The code only: the server's text often names the address.
            logger.warning(
                "send %s: mail server answered %s (%s)", send.pk, mail_error_code(error), kind
            )
            if kind in ("refused", "deferred"):
                getattr(outcome, kind).append(index)
                _session_reset(mail_connection)
                continue
            outcome.stopped_at, outcome.error, outcome.kind = index, error, kind
            return outcome
        outcome.taken.append(index)
    return outcome


def _session_reset(mail_connection: Any) -> None:
    """RSET after a refusal, so the next message starts a clean transaction (smtplib
    leaves the session halfway when the server refuses the DATA command itself). A
    connection that is gone shows itself on the next message."""
    session = getattr(mail_connection, "connection", None)
    if session is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            session.rset()


@dataclass
class InFlight:
    """The chunk the sender thread has, and its outcome to come."""

    chunk: Outgoing
    outcome: "Future[ChunkOutcome]"


class Handover:
    """One claimed batch on its way to the mail server (see the module's docstring for
    the states). `add` each checked mail, then `finish`; `close` always, in a finally."""

    def __init__(
        self, *, now: dt.datetime, counts: dict[str, int], unchecked: Callable[[], list[int]]
    ) -> None:
        self.now = now
        self.counts = counts
        # The batch's sends not yet checked (requeued with the rest if the server goes away).
        self.unchecked = unchecked
        self.claim: uuid.UUID | None = None
        self.building: Outgoing = []
        self.untried: set[int] = set()
        self.in_flight: InFlight | None = None
        # Taken by the server, not yet recorded (with the next chunk's mark, or at close).
        self.taken: Outgoing = []
        # The mail server's answer met on the sender thread: raised by `close`.
        self.failure: BaseException | None = None
        self.mail_connection = get_connection()
        self.sender: ThreadPoolExecutor | None = None

    def add(self, send: Send, message: EmailMultiAlternatives) -> bool:
        """One more mail; a full chunk is handed over. False: the batch stopped (the mail
        server went away or failed) and nothing more is to be added."""
        self.building.append((send, message))
        return len(self.building) < HANDOVER_CHUNK or self._hand_over()

    def finish(self) -> None:
        """Every mail is added: hand over the last chunk and wait for the server."""
        if self.building and not self._hand_over():
            return
        if self.in_flight is not None:
            self._collect()

    def close(self) -> None:
        """Always, also when something raised: wait for a chunk still on the wire, record
        what the server took, release what it never got, and raise the server's error."""
        try:
            if self.in_flight is not None:
                self._collect()  # this thread raised while a chunk was on the wire
        finally:
            if self.sender is not None:
                self.sender.shutdown(wait=True)
            with transaction.atomic():
                self._record_taken()
            if self.untried:
                # Never given to the server: no delivery, and back to "claimed", so the
                # lease requeues them.
                with transaction.atomic():
                    Delivery.objects.filter(send_id__in=self.untried).delete()
                    Send.objects.filter(
                        pk__in=self.untried, claim=self.claim, status=SendStatus.CLAIMED
                    ).update(sending_at=None)
            if self.claim is not None:
                self.mail_connection.close()
            if self.failure is not None:
                # Raised also when this thread was raising something else (its context).
                raise self.failure

    def _hand_over(self) -> bool:
        """Wait for the chunk before (one at a time on the wire), mark this one handed
        over, and give it to the sender thread."""
        if self.in_flight is not None and not self._collect():
            return False
        chunk, self.building = self.building, []
        if self.claim is None:
            self.claim = chunk[0][0].claim
            try:
                self.mail_connection.open()
            except Exception as error:
                if mail_error_kind(error) != "unavailable":
                    raise
                self._requeue([send.pk for send, _m in chunk])  # down: the next tick tries
                return False
        with transaction.atomic():  # one commit: the chunk before recorded, this one marked
            self._record_taken()
            marked = _mark_handed_over(self.claim, chunk, self.now)
        if len(marked) < len(chunk):
            self.counts["lost_claim"] += len(chunk) - len(marked)
        chunk = [(send, message) for send, message in chunk if send.pk in marked]
        if chunk:
            if self.sender is None:
                self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-smtp")
            self.untried = marked
            self.in_flight = InFlight(
                chunk, self.sender.submit(_send_chunk, self.mail_connection, chunk)
            )
        return True

    def _collect(self) -> bool:
        """Wait for the chunk in flight and record what became of it. False: the server
        went away (the rest is requeued) or failed (kept to be raised)."""
        assert self.in_flight is not None  # noqa: S101 - only called with a chunk in flight
        chunk, outcome = self.in_flight.chunk, self.in_flight.outcome.result()
        self.in_flight = None
        self.taken.extend(chunk[index] for index in outcome.taken)
        for index in outcome.refused:
            send = chunk[index][0]
            with transaction.atomic():
                Delivery.objects.filter(send_id=send.pk).delete()
                _finish(send, SendStatus.SKIPPED, Reason.REFUSED, self.now)
            self.counts[f"skipped:{Reason.REFUSED}"] += 1
        if outcome.deferred:
            self._defer([chunk[index][0] for index in outcome.deferred])
        self.untried = set()
        if outcome.error is None:
            return True
        at = outcome.stopped_at
        assert at is not None  # noqa: S101 - an error says where
        if outcome.kind in ("unavailable", "broken"):
            # Not taken: it and the rest go back to the queue, for the next tick.
            self._requeue([s.pk for s, _m in chunk[at:] + self.building])
            if outcome.kind == "broken":
                self.failure = outcome.error  # the operator must fix the sender: raised
            return False
        if isinstance(outcome.error, MailOutcomeUnknown):
            # The server had the message and never answered: "unknown" now, its delivery
            # row kept (frequency control counts it, tracking finds it); the rest never
            # reached the server and go back to the queue.
            with transaction.atomic():
                _finish(chunk[at][0], SendStatus.UNKNOWN, Reason.NO_ANSWER, self.now)
            self.counts[f"unknown:{Reason.NO_ANSWER}"] += 1
            self._requeue([s.pk for s, _m in chunk[at + 1 :] + self.building])
            return False
        # Any other error: the one it was sending is "unknown" (the server may have it)
        # once the lease runs out; the error is raised.
        self.untried = {s.pk for s, _m in chunk[at + 1 :]}
        self.failure = outcome.error
        return False

    def _defer(self, sends: list[Send]) -> None:
        """The server said "try again later" to these: no delivery, due again after
        MAIL_RETRY_DELAY (doubled per deferral), counted as a deferral."""
        with transaction.atomic():
            Delivery.objects.filter(send_id__in=[send.pk for send in sends]).delete()
            for send in sends:
                delay = min(MAIL_RETRY_MAX, MAIL_RETRY_DELAY * 2 ** min(send.deferrals, 8))
                self.counts[f"deferred:{Reason.MAIL_DEFERRED}"] += Send.objects.filter(
                    pk=send.pk, claim=self.claim, status=SendStatus.CLAIMED
                ).update(
                    status=SendStatus.SCHEDULED,
                    claim=None,
                    claimed_at=None,
                    sending_at=None,
                    due_at=self.now + delay,
                    reason=Reason.MAIL_DEFERRED,
                    deferrals=F("deferrals") + 1,
                )

    def _requeue(self, ids: list[int]) -> None:
        """The server went away: these, and every send not yet checked, back to the queue
        (the ones marked lose their delivery row: they never reached the server)."""
        with transaction.atomic():
            Delivery.objects.filter(send_id__in=ids).delete()
            requeued = Send.objects.filter(
                pk__in=ids + self.unchecked(), claim=self.claim, status=SendStatus.CLAIMED
            ).update(status=SendStatus.SCHEDULED, claim=None, claimed_at=None, sending_at=None)
        if requeued:
            self.counts["requeued"] += requeued
        logger.warning("mail server unreachable; %s sends requeued", requeued)

    def _record_taken(self) -> None:
        """What the server took since the last record: accepted, the sends sent. Inside
        the caller's transaction."""
        if self.taken:
            _record_sent(self.taken, self.now)
            self.counts["sent"] += len(self.taken)
            self.taken = []


def deliver(
    outgoing: Iterable[tuple[Send, EmailMultiAlternatives]],
    now: dt.datetime,
    counts: dict[str, int],
    unchecked: Callable[[], list[int]] = list,
) -> None:
    """Hand the checked mails (`outgoing`, lazy: checked and rendered as asked for) to
    the mail server over one connection, and record them (see Handover)."""
    handover = Handover(now=now, counts=counts, unchecked=unchecked)
    try:
        for send, message in outgoing:
            if not handover.add(send, message):
                break
        else:
            handover.finish()
    finally:
        handover.close()


def _finish(send: Send, status: str, reason: str, now: dt.datetime) -> None:
    Send.objects.filter(pk=send.pk).update(status=status, reason=reason, finished_at=now)


# PostgreSQL and SQLite (3.35+) both say which rows an UPDATE changed: RETURNING.
_HAND_OVER_SQL = (
    "UPDATE campaigns_send SET sending_at = %s"
    " WHERE id IN ({ids}) AND claim = %s AND status = %s AND sending_at IS NULL"
    " RETURNING id"
)


def _mark_handed_over(claim: uuid.UUID | None, chunk: Outgoing, now: dt.datetime) -> set[int]:
    """Mark these sends handed over, only those still claimed by `claim` (a worker whose
    lease ran out must not hand over what another worker may send), and give each a
    delivery row not yet accepted: from now on it may reach the customer. The ids it
    marked, from the UPDATE's RETURNING. Inside the caller's transaction."""
    ids = [send.pk for send, _m in chunk]
    params = [
        connection.ops.adapt_datetimefield_value(now),
        *ids,
        cast(Field, Send._meta.get_field("claim")).get_db_prep_value(claim, connection),
        SendStatus.CLAIMED.value,
    ]
    sql = _HAND_OVER_SQL.format(ids=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        marked = {row[0] for row in cursor.fetchall()}
    Delivery.objects.bulk_create(
        [
            Delivery(
                send=send,
                profile_id=send.profile_id,
                campaign_id=send.campaign_id,
                category=send.campaign.topic.category,
                sent_at=now,
                message_id=str(message.extra_headers["Message-ID"])[:255],
                subject=message.subject[:200],
            )
            for send, message in chunk
            if send.pk in marked
        ]
    )
    return marked


def _record_sent(sent: Outgoing, now: dt.datetime) -> None:
    """The mails the server took: their delivery rows accepted (with the ESP's own message
    id, where anymail reports one) and their sends sent. Inside the caller's transaction."""
    ids = [send.pk for send, _m in sent]
    Delivery.objects.filter(send_id__in=ids).update(accepted_at=now)
    for send, message in sent:
        status = getattr(message, "anymail_status", None)
        if status is not None and status.message_id:
            Delivery.objects.filter(send_id=send.pk).update(message_id=str(status.message_id)[:255])
    Send.objects.filter(pk__in=ids).update(status=SendStatus.SENT, reason="", finished_at=now)
