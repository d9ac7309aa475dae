"""The campaign pipeline with its real parts: beat's task on a real Celery worker over
Redis, mail through a real SMTP server, the customer's one-click unsubscribe from that
mail, and `manage.py tick --now` as an operator replays a moment."""

import datetime as dt
import email.utils
import io
import json
import re
import threading
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Send
from consent.models import ConsentState, Status, Topic
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, product, send_of, sent_to, tick, track

WORKER_TIMEOUT = 20  # seconds a task may take on the worker before the test gives up


class _Worker:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.finished: dict[str, dict] = {}
        self._done = threading.Condition()

    def record(self, task_id: str, outcome: dict) -> None:
        with self._done:
            self.finished[task_id] = outcome
            self._done.notify_all()

    def wait_for(self, task_id: str) -> dict:
        """The outcome of a task once the worker has run it (or a failure after the timeout)."""
        with self._done:
            self._done.wait_for(lambda: task_id in self.finished, timeout=WORKER_TIMEOUT)
        if task_id not in self.finished:
            pytest.fail(f"the worker did not run task {task_id} within {WORKER_TIMEOUT} s")
        return self.finished[task_id]


@pytest.fixture
def redis_worker():
    """A real Celery worker (in a thread of this process, so it shares the test database)
    consuming from Redis. Its own queue, so another developer's worker on the same Redis
    cannot take the task."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from config.celery import app

    worker = _Worker(f"klantbeeld-test-{uuid.uuid4().hex[:12]}")
    # The unit-test settings run tasks in-process; this test wants the broker. And the
    # worker leaves pytest's log capture alone.
    changed = {"task_always_eager": False, "worker_hijack_root_logger": False}
    before = {key: app.conf[key] for key in changed}
    app.conf.update(changed)

    def finished(sender=None, task_id=None, state=None, retval=None, **kwargs):
        worker.record(
            task_id,
            {"state": state, "retval": retval, "thread": threading.current_thread()},
        )
        # The worker thread's own connection: closed, or the test database cannot be dropped.
        connections.close_all()

    task_postrun.connect(finished, weak=False)
    try:
        with start_worker(
            app, perform_ping_check=False, queues=[worker.queue], shutdown_timeout=30
        ):
            yield worker
    finally:
        task_postrun.disconnect(finished)
        app.conf.update(before)
        with app.connection() as conn:  # the queue's keys in Redis go with it
            channel = conn.default_channel
            channel.queue_delete(worker.queue)
            channel.client.delete(
                *(
                    f"{prefix}{worker.queue}"
                    for prefix in ("_kombu.binding.", "_kombu.binding_permanent.")
                )
            )


def _whole_day_window(*keys: str) -> None:
    """The send window opened to the whole day: the test runs on the real clock, and its
    outcome must not depend on the hour the suite runs."""
    Campaign.objects.filter(key__in=keys).update(
        window_start=dt.time(0, 0), window_end=dt.time(23, 59, 59, 999999)
    )


def _parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a text and an HTML part"
    return text.get_content(), html.get_content()


LIST_UNSUBSCRIBE = re.compile(r"^<(https?://[^>\s]+)>$")


def unfolded(message, name: str) -> str:
    """A header as a mail client reads it: a long one arrives folded onto a new line."""
    return str(message[name]).strip()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beats_task_on_a_real_worker_mails_each_customer_through_a_real_smtp_server(
    smtp_server, redis_worker
):
    """Anna just confirmed the newsletter: a welcome. Bram confirmed a month ago and left
    a basket 25 hours ago: the basket mail. Cees did both: the welcome (higher priority)
    goes, the basket mail waits a day for the frequency cap (1 commercial mail per 24 h)."""
    only_campaigns("welcome", "abandoned-basket")
    _whole_day_window("welcome", "abandoned-basket")
    now = timezone.now()
    anna, bram, cees = (
        ProfileFactory(user_id=name, email=f"{name}@example.com", first_name=name.title())
        for name in ("anna", "bram", "cees")
    )
    confirm(anna, when=now - dt.timedelta(minutes=2))
    confirm(bram, when=now - dt.timedelta(days=30))
    track(bram, "Product Added", now - dt.timedelta(hours=25), **product())
    confirm(cees, when=now - dt.timedelta(minutes=2))
    track(cees, "Product Added", now - dt.timedelta(hours=25), **product())

    from core.tasks import run_periodic

    queued = run_periodic.apply_async(args=["campaigns"], queue=redis_worker.queue)
    outcome = redis_worker.wait_for(queued.id)

    assert outcome["state"] == "SUCCESS", outcome["retval"]
    assert outcome["thread"] is not threading.main_thread()  # the worker ran it
    recipients = Counter(r for e in smtp_server.envelopes for r in e.rcpt_tos)
    assert recipients == {"anna@example.com": 1, "bram@example.com": 1, "cees@example.com": 1}
    received = {m["To"]: m for m in smtp_server.messages}
    assert received["anna@example.com"]["Subject"] == "Welkom, Anna!"
    assert received["bram@example.com"]["Subject"] == "Bram, uw winkelmand staat nog klaar"
    assert received["cees@example.com"]["Subject"] == "Welkom, Cees!"
    for message in received.values():
        assert LIST_UNSUBSCRIBE.match(unfolded(message, "List-Unsubscribe"))
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert email.utils.parseaddr(message["From"]) == email.utils.parseaddr(
            settings.DEFAULT_FROM_EMAIL
        )
        assert message.get_content_type() == "multipart/alternative"
        text, html = _parts(message)
        assert "Afmelden" in html
        assert "Klantbeeld demo shop" in text
    text, html = _parts(received["bram@example.com"])
    assert "Leren sneaker" in text and "Leren sneaker" in html
    assert "Dank voor uw aanmelding" in _parts(received["anna@example.com"])[0]

    waiting = send_of(cees, "abandoned-basket")
    assert (waiting.status, waiting.reason, waiting.deferrals) == ("scheduled", "capped", 1)
    welcomed = Delivery.objects.get(profile=cees)
    assert waiting.due_at == welcomed.sent_at + dt.timedelta(hours=24)
    assert Delivery.objects.count() == 3
    assert set(Send.objects.values_list("status", flat=True)) == {"sent", "scheduled"}


def _zone_where_the_day_is_under_way(now: dt.datetime) -> str:
    """A time zone where it is now between 09:30 and 23:00 (birthday mail's window)."""
    import zoneinfo

    for name in (
        "Europe/Amsterdam",
        "America/New_York",
        "Asia/Tokyo",
        "Pacific/Auckland",
        "America/Los_Angeles",
        "Asia/Kolkata",
        "Pacific/Honolulu",
    ):
        local = now.astimezone(zoneinfo.ZoneInfo(name)).time()
        if dt.time(9, 30) <= local <= dt.time(23, 0):
            return name
    pytest.fail("no candidate zone has its day under way")  # cannot happen: they span 24 h


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_lifecycle_mail_goes_out_through_the_worker_and_the_smtp_server(
    smtp_server, redis_worker
):
    """One customer per lifecycle flow, each at its moment on the real clock: welcome,
    abandoned basket, cross-sell, birthday (in the customer's own zone) and winback."""
    keys = ("welcome", "abandoned-basket", "cross-sell", "birthday", "winback")
    only_campaigns(*keys)
    _whole_day_window(*keys)
    now = timezone.now()
    import zoneinfo

    zone = _zone_where_the_day_is_under_way(now)
    people = {
        name: ProfileFactory(user_id=name, email=f"{name}@example.com", first_name=name.title())
        for name in ("dora", "emma", "finn", "gijs", "hans")
    }
    confirm(people["dora"], when=now - dt.timedelta(minutes=2))
    confirm(people["emma"], when=now - dt.timedelta(days=30))
    track(people["emma"], "Product Added", now - dt.timedelta(hours=25), **product())
    confirm(people["finn"], when=now - dt.timedelta(days=60))
    track(
        people["finn"],
        "Order Completed",
        now - dt.timedelta(days=30, hours=1),
        order_id="F-1",
        total=89.95,
        products=[product()],
    )
    gijs = people["gijs"]
    gijs.timezone = zone
    gijs.birth_date = now.astimezone(zoneinfo.ZoneInfo(zone)).date().replace(year=1988)
    gijs.save()
    confirm(people["hans"], when=now - dt.timedelta(days=400))
    track(people["hans"], "Order Completed", now - dt.timedelta(days=181), order_id="H-1", total=20)

    from core.tasks import run_periodic

    queued = run_periodic.apply_async(args=["campaigns"], queue=redis_worker.queue)
    outcome = redis_worker.wait_for(queued.id)
    assert outcome["state"] == "SUCCESS", outcome["retval"]

    subjects = {m["To"]: str(m["Subject"]) for m in smtp_server.messages}
    assert subjects == {
        "dora@example.com": "Welkom, Dora!",
        "emma@example.com": "Emma, uw winkelmand staat nog klaar",
        "finn@example.com": "Houd uw nieuwe schoenen mooi",
        "gijs@example.com": "Gefeliciteerd, Gijs!",
        "hans@example.com": "We missen u, Hans",
    }
    assert Delivery.objects.count() == 5


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_from_the_received_mail_stops_the_next_commercial_mail(
    anna, smtp_server, encoding
):
    """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the header's URL,
    without cookies, login or CSRF token; it takes effect at once and answers 200."""
    only_campaigns("welcome", "cross-sell")
    confirm(anna, when=at())
    track(anna, "Order Completed", at(), order_id="A-1", total=89.95, products=[product()])
    tick(at(minutes=1))
    (welcome,) = smtp_server.messages
    link = LIST_UNSUBSCRIBE.match(unfolded(welcome, "List-Unsubscribe")).group(1)
    assert link.startswith(f"{settings.SITE_URL}/")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    mail_client = Client(enforce_csrf_checks=True)
    path = urlsplit(link).path
    with time_machine.travel(at(minutes=5), tick=False):
        if encoding == "urlencoded":
            answer = mail_client.post(
                path,
                "List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded",
            )
        else:
            answer = mail_client.post(path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200  # not a redirect, not a login page
    newsletter = Topic.objects.get(key="newsletter")
    assert ConsentState.objects.get(profile=anna, topic=newsletter).status == Status.WITHDRAWN

    tick(at(days=30, minutes=1))  # the cross-sell's moment
    assert len(smtp_server.envelopes) == 1
    cross_sell = send_of(anna, "cross-sell")
    assert (cross_sell.status, cross_sell.reason) == ("skipped", "withdrawn")


def _tick(now: str) -> dict:
    out = io.StringIO()
    call_command("tick", "--now", now, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_tick_now_replays_a_moment_and_records_it_with_that_clock():
    joost = ProfileFactory(
        email="joost@example.com",
        first_name="Joost",
        timezone="Europe/Amsterdam",
        birth_date=dt.date(1990, 12, 3),
    )
    ProfileFactory(
        email="dirk@example.com",
        first_name="Dirk",
        timezone="Europe/Amsterdam",
        birth_date=dt.date(1985, 12, 2),
    )
    moment = dt.datetime.fromisoformat("2026-12-03T09:01:00+01:00")

    report = _tick("2026-12-03T09:01:00+01:00")

    assert dt.datetime.fromisoformat(report["now"]) == moment
    [greeting] = mail.outbox
    assert greeting.to == ["joost@example.com"]
    assert greeting.subject == "Gefeliciteerd, Joost!"
    send = send_of(joost, "birthday")
    assert send.status == "sent"
    assert send.created_at == send.claimed_at == send.sending_at == send.finished_at == moment
    assert send.due_at == dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)  # 09:00 in Amsterdam
    assert Delivery.objects.get(send=send).sent_at == moment

    _tick("2026-12-03T09:01:00+01:00")
    assert len(mail.outbox) == 1

    # An earlier clock afterwards: nothing breaks, what was sent is not sent again, and
    # what was due at that earlier moment (Dirk's birthday) is not skipped for a "last run".
    _tick("2026-12-03T09:00:30+01:00")
    assert len(mail.outbox) == 1
    _tick("2026-12-02T09:01:00+01:00")
    assert [m.to for m in mail.outbox] == [["joost@example.com"], ["dirk@example.com"]]
    assert len(sent_to("joost@example.com")) == 1
    assert Send.objects.filter(status="sent").count() == 2
    _tick("2026-12-03T09:05:00+01:00")
    assert len(mail.outbox) == 2
