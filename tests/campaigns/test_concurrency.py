"""Exactly once under pressure: two ticks at the same moment, two schedulers inserting
the same sends, workers that die after claiming or after handing a mail over, and a
worker still busy when its claim runs out."""

import contextlib
import datetime as dt
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import mail
from django.core.mail.backends import locmem
from django.db import IntegrityError, connection, connections, transaction

from campaigns import handover
from campaigns.models import Delivery, Send
from campaigns.scheduler import campaigns_tick
from campaigns.sending import CLAIM_LEASE, sends_claim, sends_process
from campaigns.triggers import sends_schedule
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, product, send_of, sent_to, tick, track


def _at_once(*work: Callable[[], object]) -> list:
    """Run each piece of work in its own thread with its own database connection, all
    released at the same moment; their results in order, or the first error raised."""
    barrier = threading.Barrier(len(work))
    results: list = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def _welcome_due_for(count: int) -> list:
    people = [ProfileFactory(email=f"klant{n:03d}@example.com") for n in range(count)]
    for person in people:
        confirm(person, when=at())
    return people


# --- Two ticks at the same moment ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_ticks_at_the_same_moment_mail_every_customer_exactly_once():
    only_campaigns("welcome")
    people = _welcome_due_for(150)  # more than one claim batch (100)

    reports = _at_once(lambda: campaigns_tick(at(minutes=1)), lambda: campaigns_tick(at(minutes=1)))

    per_address = Counter(address for message in mail.outbox for address in message.to)
    assert per_address == {person.email: 1 for person in people}
    assert sum(r["sent"].get("sent", 0) for r in reports) == 150
    assert sum(r["scheduled"]["welcome"] for r in reports) == 150  # each send made once
    assert Send.objects.count() == Delivery.objects.count() == 150
    assert not Send.objects.filter(delivery=None).exists()
    assert not Send.objects.exclude(status="sent").exists()  # none left claimed


# --- Two schedulers inserting the same sends ------------------------------------------------


def _customers_with_four_due_mails(count: int) -> None:
    """Each: a welcome (confirmed now), a basket left 25 h ago, an order 30 days ago (the
    cross-sell) and a birthday today."""
    for n in range(count):
        person = ProfileFactory(birth_date=dt.date(1980 + n % 30, 11, 23))
        confirm(person, when=at())
        track(person, "Order Completed", at(days=-30), order_id=f"O-{n}", products=[product()])
        track(person, "Product Added", at(hours=-25), **product())


EXPECTED = {"welcome": 40, "abandoned-basket": 40, "cross-sell": 40, "birthday": 40}


def _sends_per_campaign() -> dict[str, int]:
    return dict(Counter(Send.objects.values_list("campaign__key", flat=True)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_schedulers_at_once_make_one_send_per_campaign_customer_and_occurrence():
    only_campaigns(*EXPECTED)
    _customers_with_four_due_mails(40)
    now = at(minutes=1)

    reports = _at_once(lambda: sends_schedule(now=now), lambda: sends_schedule(now=now))

    assert _sends_per_campaign() == EXPECTED
    for key, expected in EXPECTED.items():  # counted once, by whichever inserted it
        assert sum(r[key] for r in reports) == expected
    assert sum(sends_schedule(now=now).values()) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_scheduler_waiting_on_anothers_uncommitted_sends_adds_none_and_does_not_fail():
    """The worst interleaving, forced: one scheduler has inserted every send but not yet
    committed; the other runs into the same keys, waits for the first, then adds nothing."""
    only_campaigns(*EXPECTED)
    _customers_with_four_due_mails(40)
    now = at(minutes=1)
    first_inserted, second_waits = threading.Event(), threading.Event()
    waiting_seen: list[str] = []

    def first() -> dict:
        from django.db import transaction

        with transaction.atomic():
            report = sends_schedule(now=now)
            first_inserted.set()
            second_waits.wait(timeout=10)
        return report

    def second() -> dict:
        first_inserted.wait(timeout=10)
        return sends_schedule(now=now)

    def watch() -> None:
        """Until the second scheduler is seen waiting on the first's lock."""
        first_inserted.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    [f"INSERT INTO {Send._meta.db_table}%"],
                )
                row = cursor.fetchone()
            if row:
                waiting_seen.append(row[0])
                break
            time.sleep(0.01)
        second_waits.set()

    report_first, report_second, _ = _at_once(first, second, watch)

    assert waiting_seen, "the second scheduler never had to wait for the first"
    assert report_first == EXPECTED
    assert sum(report_second.values()) == 0
    assert _sends_per_campaign() == EXPECTED


# --- Frequency control with two workers at once -------------------------------------------


def _deliver_together(monkeypatch, parties: int) -> None:
    """The workers hand their mail over at the same moment: each waits for the other
    before its batch goes out (a worker that cannot get there in time goes alone)."""
    together = threading.Barrier(parties)
    deliver = handover.deliver

    def deliver_together(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(timeout=3)
        return deliver(*args, **kwargs)

    monkeypatch.setattr(handover, "deliver", deliver_together)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_at_once_still_keep_a_customer_to_one_commercial_mail_a_day(anna, monkeypatch):
    only_campaigns("welcome", "abandoned-basket")
    confirm(anna, when=at())
    track(anna, "Product Added", at(hours=-25), **product())
    now = at(minutes=1)
    sends_schedule(now=now)
    # Two workers each take a batch (of one, to keep the test small): the welcome
    # (priority 90) and the basket mail (70) of the same customer.
    claims = [c for c in (sends_claim(now=now, limit=1), sends_claim(now=now, limit=1)) if c]
    _deliver_together(monkeypatch, len(claims))

    # A customer's sends are never split over two workers: the second claim gets none.
    assert len(claims) == 1
    _at_once(*[lambda c=c: sends_process(c, now=now) for c in claims])
    # The next round finds the basket mail, and the cap.
    next_round = sends_claim(now=now, limit=1)
    assert next_round is not None
    sends_process(next_round, now=now)

    # At most one commercial mail in 24 hours; the other waits for the cap.
    assert len(sent_to("anna@example.com")) == 1, [m.subject for m in mail.outbox]
    assert Send.objects.filter(status="sent").count() == 1
    assert Send.objects.exclude(status="sent").get().reason == "capped"


# --- Workers that die -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_that_died_after_claiming_leaves_its_sends_to_be_sent_once():
    only_campaigns("welcome")
    people = _welcome_due_for(3)
    claimed_at = at(minutes=1)
    sends_schedule(now=claimed_at)
    assert sends_claim(now=claimed_at) is not None  # … and the worker dies here
    assert set(Send.objects.values_list("status", flat=True)) == {"claimed"}

    tick(claimed_at + CLAIM_LEASE / 2)  # a slow worker's claim is not taken from it
    assert mail.outbox == []
    assert set(Send.objects.values_list("status", flat=True)) == {"claimed"}

    report = tick(claimed_at + dt.timedelta(minutes=11))
    assert report["recovered"] == {"requeued": 3, "unknown": 0}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in people)
    assert set(Send.objects.values_list("status", flat=True)) == {"sent"}
    assert Delivery.objects.count() == 3

    tick(claimed_at + dt.timedelta(minutes=30))
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_a_worker_that_died_after_handing_over_never_sends_twice_and_says_so(anna, marketer_client):
    only_campaigns("welcome")
    confirm(anna, when=at())
    claimed_at = at(minutes=1)
    sends_schedule(now=claimed_at)
    claim = sends_claim(now=claimed_at)
    # As _deliver does right before calling the mail server; then the worker dies, so
    # nobody knows whether the mail server took the message.
    Send.objects.filter(claim=claim).update(sending_at=claimed_at)

    report = tick(claimed_at + dt.timedelta(minutes=11))

    assert report["recovered"] == {"requeued": 0, "unknown": 1}
    assert mail.outbox == []
    send = send_of(anna, "welcome")
    assert (send.status, send.reason, send.finished_at) == (
        "unknown",
        "worker_lost",
        claimed_at + dt.timedelta(minutes=11),
    )
    assert not Delivery.objects.exists()
    tick(claimed_at + dt.timedelta(hours=1))
    assert mail.outbox == []
    # The marketer's list of sends says what happened …
    page = marketer_client.get("/admin/campaigns/send/", HTTP_ACCEPT_LANGUAGE="nl")
    assert page.status_code == 200
    assert "onbekend (mogelijk afgeleverd)" in page.content.decode()
    # … and so does the customer's timeline, with the reason.
    page = marketer_client.get(
        f"/admin/profiles/profile/{anna.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    )
    timeline = page.content.decode()[page.content.decode().index('class="timeline"') :]
    assert "mail, outcome unknown" in timeline
    assert "worker lost while handing the mail over" in timeline


class _KilledMidChunk:
    """The mail server of a worker process that is killed (SIGKILL: no `finally`, no
    clean-up) right after the server took its KILL_AFTER-th message. Each recipient the
    server took is appended to the file TAKEN_FILE names."""

    def __init__(self, *args, **kwargs) -> None:
        self.taken = Path(os.environ["TAKEN_FILE"])

    def open(self):
        return True

    def close(self):
        return None

    def send_messages(self, messages):
        for message in messages:
            with self.taken.open("a") as taken:
                taken.write(message.to[0] + "\n")
            if len(self.taken.read_text().splitlines()) >= int(os.environ["KILL_AFTER"]):
                os.kill(os.getpid(), signal.SIGKILL)
        return len(messages)


_WORKER = """
import datetime as dt, sys, django
django.setup()
from django.conf import settings
settings.EMAIL_BACKEND = "tests.campaigns.test_concurrency._KilledMidChunk"
from campaigns.sending import sends_send_due
sends_send_due(now=dt.datetime.fromisoformat(sys.argv[1]))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_halfway_through_a_chunk_never_sends_twice_and_loses_nothing_silently(
    tmp_path,
):
    """A worker process marks a chunk of sends handed over, the server takes three of
    them, and the process is killed. The chunk's sends (taken or not: nobody knows) end
    "unknown" with their reason; the sends after the chunk are sent once, by the next
    tick; nothing is sent again."""
    only_campaigns("welcome")
    people = _welcome_due_for(handover.HANDOVER_CHUNK + 2)
    claimed_at = at(minutes=1)
    sends_schedule(now=claimed_at)
    db = connection.settings_dict
    taken = tmp_path / "taken.txt"
    worker = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", _WORKER, claimed_at.isoformat()],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            "TAKEN_FILE": str(taken),
            "KILL_AFTER": "3",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    first_taken = taken.read_text().split()
    assert len(first_taken) == 3
    assert Counter(Send.objects.values_list("status", flat=True)) == {"claimed": len(people)}

    report = tick(claimed_at + dt.timedelta(minutes=11))

    chunk = handover.HANDOVER_CHUNK
    assert report["recovered"] == {"requeued": 2, "unknown": chunk}
    assert report["sent"] == {"sent": 2}
    unknown = Send.objects.filter(status="unknown")
    assert set(unknown.values_list("reason", flat=True)) == {"worker_lost"}
    unknown_to = set(unknown.values_list("profile__email", flat=True))
    assert set(first_taken) <= unknown_to  # what the server took is among them
    # Everyone else got the mail once, from the next worker, and only they did.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        p.email for p in people if p.email not in unknown_to
    )
    assert not set(first_taken) & {m.to[0] for m in mail.outbox}
    # The chunk that may have gone out has its delivery rows from the moment it was handed
    # over (frequency control counts them, tracking finds them), not accepted.
    assert Delivery.objects.exclude(accepted_at=None).count() == 2
    assert set(
        Delivery.objects.filter(accepted_at=None).values_list("send__status", flat=True)
    ) == {"unknown"}
    assert Delivery.objects.filter(accepted_at=None).count() == chunk
    tick(claimed_at + dt.timedelta(hours=1))
    assert len(mail.outbox) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_late_in_a_batch_leaves_only_its_last_chunk_unknown(tmp_path):
    """Three chunks of a batch go out and the worker is killed in the third: the two
    before are recorded as sent (they were recorded at the end of the batch, so all
    thirty ended "unknown"); at most one chunk's outcome is unknown, and nobody gets a
    mail twice."""
    only_campaigns("welcome")
    chunk = handover.HANDOVER_CHUNK
    people = _welcome_due_for(3 * chunk + 2)
    claimed_at = at(minutes=1)
    sends_schedule(now=claimed_at)
    taken = tmp_path / "taken.txt"
    db = connection.settings_dict
    worker = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", _WORKER, claimed_at.isoformat()],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            "TAKEN_FILE": str(taken),
            "KILL_AFTER": str(2 * chunk + 5),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    assert Send.objects.filter(status="sent").count() == 2 * chunk  # visible at once
    assert Delivery.objects.filter(accepted_at=None).count() == chunk

    report = tick(claimed_at + dt.timedelta(minutes=11))
    assert report["recovered"] == {"requeued": 2, "unknown": chunk}
    counts = Counter(Send.objects.values_list("status", flat=True))
    assert counts == {"sent": 2 * chunk + 2, "unknown": chunk}
    taken_first = taken.read_text().split()
    sent_after = [m.to[0] for m in mail.outbox]
    assert not set(taken_first) & set(sent_after)  # nobody twice
    assert len(set(taken_first) | set(sent_after)) == len(people) - (chunk - 5)


class _FailingMailServer(locmem.EmailBackend):
    """A mail backend that raises `error` once: at the `at`-th message it gets (counted
    over its connections)."""

    error: BaseException = smtplib.SMTPServerDisconnected("gone")
    at = 3
    calls = 0

    @classmethod
    def fail(cls, error: BaseException, at: int) -> None:
        cls.error, cls.at, cls.calls = error, at, 0

    def send_messages(self, messages):
        _FailingMailServer.calls += 1
        if _FailingMailServer.calls == self.at:
            raise self.error
        return super().send_messages(messages)


@pytest.mark.django_db
def test_a_mail_server_going_away_halfway_through_a_chunk_requeues_the_rest_once(settings):
    """The mail it was sending and the chunk's mails after it go back to the queue (not
    taken: the server went away), and the next tick sends them, once."""
    only_campaigns("welcome")
    people = _welcome_due_for(5)  # one chunk
    settings.EMAIL_BACKEND = f"{__name__}._FailingMailServer"
    _FailingMailServer.fail(smtplib.SMTPServerDisconnected("gone"), at=3)

    assert tick(at(minutes=1))["sent"] == {"sent": 2, "requeued": 3}
    assert tick(at(minutes=2))["sent"] == {"sent": 3}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in people)
    assert set(Send.objects.values_list("status", flat=True)) == {"sent"}
    assert Delivery.objects.count() == 5


@pytest.mark.django_db
def test_an_answer_nobody_can_read_halfway_through_a_chunk_leaves_only_that_mail_unknown(
    settings,
):
    """An error that says nothing of whether the message was taken (here an ESP's API
    answering a 502) stops the worker: the mail it was sending is "unknown" (the server
    may have taken it); the chunk's mails it never tried go back to the queue with the
    lease, and are sent once."""
    only_campaigns("welcome")
    people = _welcome_due_for(5)
    settings.EMAIL_BACKEND = f"{__name__}._FailingMailServer"
    _FailingMailServer.fail(AnymailAPIError("the ESP answered 502"), at=3)
    started = at(minutes=1)

    with pytest.raises(AnymailAPIError):
        tick(started)

    assert Counter(Send.objects.values_list("status", flat=True)) == {"sent": 2, "claimed": 3}
    assert Send.objects.filter(status="claimed").exclude(sending_at=None).count() == 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    report = tick(started + dt.timedelta(minutes=11))
    assert report["recovered"] == {"requeued": 2, "unknown": 1}
    assert len(mail.outbox) == 4  # two before the error, two after the lease
    assert len({m.to[0] for m in mail.outbox}) == 4
    lost = Send.objects.get(status="unknown")
    assert lost.reason == "worker_lost"
    assert lost.profile.email not in {m.to[0] for m in mail.outbox}
    assert {m.to[0] for m in mail.outbox} | {lost.profile.email} == {p.email for p in people}


class _RefusingMailServer(locmem.EmailBackend):
    """A mail backend that refuses the recipient of its second message, and notes the
    thread each message went out on."""

    threads: list[threading.Thread] = []

    def send_messages(self, messages):
        _RefusingMailServer.threads.append(threading.current_thread())
        if len(_RefusingMailServer.threads) == 2:
            raise smtplib.SMTPRecipientsRefused({messages[0].to[0]: (550, b"no such user")})
        return super().send_messages(messages)


@pytest.mark.django_db
def test_a_refused_recipient_is_skipped_and_the_rest_of_the_chunk_sent_by_the_sender_thread(
    settings,
):
    only_campaigns("welcome")
    people = _welcome_due_for(5)
    settings.EMAIL_BACKEND = f"{__name__}._RefusingMailServer"
    _RefusingMailServer.threads = []

    report = tick(at(minutes=1))

    assert report["sent"] == {"sent": 4, "skipped:refused": 1}
    refused = Send.objects.get(status="skipped")
    assert refused.reason == "refused"
    assert refused.profile.email not in {m.to[0] for m in mail.outbox}
    assert len({m.to[0] for m in mail.outbox} | {refused.profile.email}) == len(people)
    assert Delivery.objects.count() == 4
    # The SMTP conversation ran on one thread of its own, not the worker's.
    assert len(set(_RefusingMailServer.threads)) == 1
    assert _RefusingMailServer.threads[0] is not threading.main_thread()


@pytest.mark.django_db
def test_the_database_refuses_a_send_that_ends_unsent_without_a_reason(anna):
    only_campaigns("welcome")
    confirm(anna, when=at())
    sends_schedule(now=at(minutes=1))
    for status in ("skipped", "unknown"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Send.objects.filter(profile=anna).update(status=status, reason="")


# --- A worker still busy when its claim runs out ------------------------------------------


class _SlowMailServer(locmem.EmailBackend):
    """A mail backend whose server is so slow that, while the first message of a batch
    is on its way, the claim's lease runs out and the next tick (another worker) runs."""

    meanwhile: Callable[[], object] | None = None
    database = None  # the test's connection (its transaction holds the test's data)

    def send_messages(self, messages):
        other_worker, _SlowMailServer.meanwhile = _SlowMailServer.meanwhile, None
        if other_worker is not None:
            # The mail goes out on the worker's sender thread, and the worker's own thread
            # waits for it meanwhile: the other worker uses the test's connection there.
            database = _SlowMailServer.database
            assert database is not None
            assert threading.current_thread() is not threading.main_thread()
            database.inc_thread_sharing()
            connections["default"] = database
            try:
                other_worker()
            finally:
                del connections["default"]
                database.dec_thread_sharing()
        return super().send_messages(messages)


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [1, 2, handover.HANDOVER_CHUNK])
def test_a_worker_still_sending_when_its_lease_runs_out_never_sends_a_mail_twice(
    settings, monkeypatch, chunk
):
    """Whatever it had marked handed over it may still send (nobody else will: those
    sends are "unknown" to the other worker); the rest went back to the queue and it
    leaves them to the other worker (its claim is lost)."""
    monkeypatch.setattr(handover, "HANDOVER_CHUNK", chunk)
    only_campaigns("welcome")
    people = _welcome_due_for(3)
    started = at(minutes=1)
    settings.EMAIL_BACKEND = f"{__name__}._SlowMailServer"
    _SlowMailServer.meanwhile = lambda: campaigns_tick(started + dt.timedelta(minutes=11))
    _SlowMailServer.database = connections["default"]  # the wrapper, not the proxy

    crashed = None
    try:
        campaigns_tick(started)
    except IntegrityError as exc:  # a second delivery of the same send: reported below
        crashed = exc
    finally:
        _SlowMailServer.meanwhile = _SlowMailServer.database = None

    per_address = Counter(address for message in mail.outbox for address in message.to)
    assert per_address == {person.email: 1 for person in people}
    assert crashed is None
    assert Delivery.objects.count() == 3
    assert set(Send.objects.values_list("status", flat=True)) == {"sent"}
