"""A real SMTP server (aiosmtpd) that misbehaves mid-batch, the way mail servers do:
"try again later" (4xx), "no" (5xx), closing the session (421), dropping the connection
before or after the message, and not answering at all. Each test tallies what the
customers got — sent, received by the server, duplicates, unknown (and how many of
those the server did receive), lost — and asks for nothing lost and nothing twice.

What each answer means is core.mail.mail_error_kind; what becomes of the send,
campaigns/handover.py."""

import asyncio
import email
import smtplib
import socket
from collections import Counter
from collections.abc import Iterator
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from campaigns.models import Delivery, Send
from consent.models import Source, Topic
from consent.services import subscription_request
from consent.tasks import send_opt_in_mail
from core.mail import TemporaryMailRefusal
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, tick

pytestmark = pytest.mark.django_db


class Misbehaving:
    """An SMTP server whose answer to a recipient's n-th attempt follows a script:
    `script[address]` lists one action per attempt (missing: "ok"). What it takes (the
    message's content reached it) is in `received`, also when it then fails to answer."""

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.attempts: Counter[str] = Counter()
        self.received: list[str] = []
        self.refuse_sender = ""  # an SMTP reply to every MAIL FROM, e.g. "550 5.7.1 no"

    def _action(self, envelope, phase: str) -> str:
        address = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        actions = self.script.get(address, [])
        attempt = self.attempts[address] - 1
        action = actions[attempt] if 0 <= attempt < len(actions) else "ok"
        return action.removeprefix(f"{phase}:") if action.startswith(f"{phase}:") else "ok"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        envelope.rcpt_tos.append(address)
        self.attempts[address] += 1
        action = self._action(envelope, "rcpt")
        if action == "drop":
            server.transport.close()
            return "250 OK"  # written to a closed connection: never read
        if action != "ok":
            envelope.rcpt_tos.pop()
            return action
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        action = self._action(envelope, "data")
        if action in ("ok", "drop", "hang"):
            message = email.message_from_bytes(envelope.original_content, policy=policy.default)
            self.received.append(str(message["To"]))
        if action == "drop":  # took the message, then the connection broke: no answer
            server.transport.close()
        elif action == "hang":  # took the message and never answered in time
            await asyncio.sleep(3)
        elif action != "ok":
            return action
        return "250 Message accepted for delivery"


@pytest.fixture
def server(settings) -> Iterator[Misbehaving]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Misbehaving()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    # As production sends (config/settings/base.py with EMAIL_URL=smtp://…).
    settings.EMAIL_BACKEND = "core.mail.SmtpEmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 1
    yield handler
    controller.stop()


def customers(count: int) -> list[str]:
    """`count` customers who just confirmed the newsletter: a welcome mail each is due."""
    only_campaigns("welcome")
    people = [ProfileFactory(email=f"klant{n}@example.com") for n in range(count)]
    for person in people:
        confirm(person, when=at())
    return [p.email for p in people]


def tally(addresses: list[str], server: Misbehaving) -> dict[str, int]:
    """What became of each customer's welcome mail, as the chaos harness reports it."""
    statuses = dict(Send.objects.values_list("profile__email", "status"))
    received = Counter(server.received)
    unknown = [a for a in addresses if statuses.get(a) == "unknown"]
    return {
        "sent": sum(1 for a in addresses if statuses.get(a) == "sent"),
        "received": len(received),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "unknown": len(unknown),
        "unknown_received": sum(1 for a in unknown if a in received),
        # Recorded as sent but never received, or received and recorded as neither sent
        # nor unknown, or neither and not refused for good: a mail nobody can account for.
        "lost": sum(
            1
            for a in addresses
            if (statuses.get(a) == "sent" and a not in received)
            or (a in received and statuses.get(a) not in ("sent", "unknown"))
            or statuses.get(a) not in ("sent", "unknown", "skipped")
        ),
    }


def test_try_again_later_to_a_recipient_greylisting_delivers_it_later_once(server):
    addresses = customers(5)
    server.script[addresses[2]] = ["rcpt:450 4.2.0 Greylisted, try again in 5 minutes"]

    report = tick(at(minutes=1))

    assert report["sent"] == {"sent": 4, "deferred:mail_deferred": 1}
    later = Send.objects.get(profile__email=addresses[2])
    assert (later.status, later.reason, later.deferrals) == ("scheduled", "mail_deferred", 1)
    assert later.due_at == at(minutes=11)
    assert not Delivery.objects.filter(send=later).exists()  # nothing went out
    assert tick(at(minutes=5))["sent"] == {}  # not before it is due again

    assert tick(at(minutes=12))["sent"] == {"sent": 1}
    assert tally(addresses, server) == {
        "sent": 5, "received": 5, "duplicates": 0, "unknown": 0, "unknown_received": 0, "lost": 0
    }  # fmt: skip


def test_try_again_later_to_the_message_is_retried_with_a_growing_pause(server):
    addresses = customers(3)
    server.script[addresses[0]] = ["data:451 4.3.0 Mailbox busy"] * 2

    tick(at(minutes=1))
    assert Send.objects.get(profile__email=addresses[0]).due_at == at(minutes=11)
    tick(at(minutes=12))
    retry = Send.objects.get(profile__email=addresses[0])
    assert (retry.status, retry.deferrals, retry.due_at) == ("scheduled", 2, at(minutes=32))
    tick(at(minutes=33))

    assert tally(addresses, server) == {
        "sent": 3, "received": 3, "duplicates": 0, "unknown": 0, "unknown_received": 0, "lost": 0
    }  # fmt: skip


def test_a_refusal_for_good_fails_that_mail_with_its_reason_and_the_rest_go_out(server):
    addresses = customers(5)
    server.script[addresses[1]] = ["rcpt:550 5.1.1 No such user"]
    server.script[addresses[3]] = ["data:554 5.7.1 Message rejected"]

    report = tick(at(minutes=1))

    assert report["sent"] == {"sent": 3, "skipped:refused": 2}
    refused = Send.objects.filter(profile__email__in=[addresses[1], addresses[3]])
    assert set(refused.values_list("status", "reason")) == {("skipped", "refused")}
    assert not Delivery.objects.filter(send__in=refused).exists()
    tick(at(hours=2))
    assert server.attempts[addresses[1]] == 1  # never asked again
    assert tally(addresses, server) == {
        "sent": 3, "received": 3, "duplicates": 0, "unknown": 0, "unknown_received": 0, "lost": 0
    }  # fmt: skip


@pytest.mark.parametrize(
    "failure",
    ["rcpt:421 4.3.2 Service shutting down", "rcpt:drop"],
    ids=["the server closes the session (421)", "the connection drops before the message"],
)
def test_a_server_gone_before_the_message_requeues_it_and_the_rest_sent_once(server, failure):
    addresses = customers(8)
    server.script[addresses[3]] = [failure]

    # The one it was sending and the four after it go back to the queue, for the next tick.
    assert tick(at(minutes=1))["sent"] == {"sent": 3, "requeued": 5}
    assert tick(at(minutes=2))["sent"] == {"sent": 5}
    assert tally(addresses, server) == {
        "sent": 8, "received": 8, "duplicates": 0, "unknown": 0, "unknown_received": 0, "lost": 0
    }  # fmt: skip


@pytest.mark.parametrize(
    "failure",
    ["data:drop", "data:hang"],
    ids=["the connection drops after the message", "the server stops answering (timeout)"],
)
def test_a_server_gone_after_the_message_leaves_that_one_unknown_and_never_sends_it_again(
    server, failure
):
    """The server took the message and no answer came: it may be in the customer's inbox
    (here it is), so it is "unknown" at once, never sent again; the rest go out once."""
    addresses = customers(8)
    server.script[addresses[3]] = [failure]

    report = tick(at(minutes=1))

    assert report["sent"] == {"sent": 3, "unknown:no_answer": 1, "requeued": 4}
    unknown = Send.objects.get(profile__email=addresses[3])
    assert (unknown.status, unknown.reason) == ("unknown", "no_answer")
    # Frequency control counts it and tracking can find it: the delivery row stays.
    assert Delivery.objects.get(send=unknown).accepted_at is None
    tick(at(minutes=2))
    tick(at(hours=1))
    assert tally(addresses, server) == {
        "sent": 7, "received": 8, "duplicates": 0, "unknown": 1, "unknown_received": 1, "lost": 0
    }  # fmt: skip


def test_a_sender_refused_for_good_stops_the_batch_and_keeps_every_mail_queued(server):
    """550 to MAIL FROM: no mail can go until the operator fixes the sender. The error
    is raised (the task fails, loudly); every mail stays queued and goes out once later."""
    addresses = customers(4)
    server.refuse_sender = "550 5.7.1 Sender address rejected"

    with pytest.raises(smtplib.SMTPSenderRefused):
        tick(at(minutes=1))

    assert set(Send.objects.values_list("status", flat=True)) == {"scheduled"}
    assert not Delivery.objects.exists()
    server.refuse_sender = ""  # fixed
    assert tick(at(minutes=2))["sent"] == {"sent": 4}
    assert tally(addresses, server) == {
        "sent": 4, "received": 4, "duplicates": 0, "unknown": 0, "unknown_received": 0, "lost": 0
    }  # fmt: skip


def test_a_confirmation_mail_met_with_try_again_later_is_retried_and_arrives_once(
    server, django_capture_on_commit_callbacks
):
    """Transactional mail: a 4xx is temporary (the task retries), not a silent loss."""
    server.script["nieuw@example.com"] = ["rcpt:450 4.2.0 Greylisted"]
    with django_capture_on_commit_callbacks(execute=False):  # the task is run below
        request = subscription_request(
            topics=[Topic.objects.get(key="newsletter")],
            email="nieuw@example.com",
            source=Source.FORM,
            now=timezone.now(),
        ).request

    # As a worker runs it; Celery runs the retry at once, in this process.
    result = send_opt_in_mail.apply(args=[request.pk], throw=False)

    assert result.successful(), result.traceback
    assert server.attempts["nieuw@example.com"] == 2  # refused for now, then taken
    assert server.received == ["nieuw@example.com"]


def test_a_try_again_later_answer_is_raised_as_temporary_to_the_mail_task(server):
    from core.mail import send_transactional_mail

    server.script["later@example.com"] = ["rcpt:452 4.2.2 Mailbox full"]
    with pytest.raises(TemporaryMailRefusal):
        send_transactional_mail(
            to="later@example.com",
            template="preferences_link",
            context={"preferences_url": "https://example.com/p/x"},
            language="nl",
        )
    assert server.received == []
