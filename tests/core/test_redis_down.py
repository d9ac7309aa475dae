"""Redis (the cache and the Celery broker) goes away: the sign-up pages and the APIs keep
working, nothing they set in motion is lost, and /healthz says what is down."""

import datetime as dt
import logging

import kombu.exceptions
import pytest
import redis
from django.core import mail
from django.test import Client

from core.models import KeptTask
from core.queue import tasks_requeue
from profiles.models import Profile

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# A Redis that is not there: nothing listens on port 1.
NOWHERE = "redis://127.0.0.1:1/0"


@pytest.fixture
def cache_down(settings):
    # Django's test signals rebuild the cache handlers when CACHES changes.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": NOWHERE}
    }


@pytest.fixture
def broker_down(monkeypatch):
    """Publishing any task fails as with Redis down (the unit tests run tasks eagerly, so
    the refusal is made where Celery would meet it)."""
    from config.celery import app

    def refuse(*args, **kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to redis:6379")

    for task in app.tasks.values():
        monkeypatch.setattr(task, "delay", refuse, raising=False)
        monkeypatch.setattr(task, "apply_async", refuse, raising=False)
    return monkeypatch


def test_the_subscribe_page_works_and_its_mail_goes_once_redis_is_back(
    cache_down, broker_down, caplog
):
    from consent.models import Topic

    newsletter = Topic.objects.get(key="newsletter")
    with caplog.at_level(logging.WARNING):
        response = Client(REMOTE_ADDR="203.0.113.9").post(
            "/subscribe/",
            {"email": "anna@example.com", "topics": [newsletter.pk], "website": ""},
        )
    assert response.status_code == 200
    assert "rate limit not checked" in caplog.text
    assert mail.outbox == []  # the broker was away: the mail waits
    assert list(KeptTask.objects.values_list("name", flat=True)) == [
        "consent.tasks.send_opt_in_mail"
    ]

    broker_down.undo()  # Redis is back; the periodic job queues what waited
    assert tasks_requeue(now=dt.datetime.now(dt.UTC)) == {"queued": 1, "waiting": 0}
    assert [m.to for m in mail.outbox] == [["anna@example.com"]]


def test_the_subscription_api_and_the_preference_link_page_work_without_the_cache(cache_down):
    from core.apikeys import api_key_create

    token = api_key_create(name="backend", kind="admin")[1]
    started = Client().post(
        "/api/v1/subscriptions",
        {"email": "bram@example.com", "topic": "newsletter"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert started.status_code == 202
    asked = Client().post("/preferences/", {"email": "bram@example.com"})
    assert asked.status_code == 200


def test_a_roll_up_asked_for_while_redis_is_down_is_done_once_it_is_back(monkeypatch):
    from events import rollup_queue
    from events.ingest import events_ingest
    from events.segment import message_parse
    from tests.factories import ProfileFactory

    customer = ProfileFactory(user_id="u1")
    monkeypatch.setattr(rollup_queue, "_redis", lambda: redis.Redis.from_url(NOWHERE))
    monkeypatch.setattr(rollup_queue, "_coalesced", lambda: True)  # as in production
    now = dt.datetime.now(dt.UTC)
    order = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "o1",
        "properties": {"order_id": "1", "total": 40},
    }
    events_ingest(messages=[message_parse(order, index=0, received_at=now)], received_at=now)
    assert Profile.objects.get(pk=customer.pk).order_count == 0  # nothing refreshed yet
    assert KeptTask.objects.get().name == "events.tasks.rollups_refresh"

    assert tasks_requeue(now=now)["queued"] == 1  # eager: the refresh runs here
    assert Profile.objects.get(pk=customer.pk).order_count == 1


def test_healthz_says_what_is_down(client, cache_down, broker_down, monkeypatch):
    from config.celery import app

    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"degraded: cache unavailable")

    class NoBroker:
        def __enter__(self):
            raise kombu.exceptions.OperationalError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(app, "connection_for_write", NoBroker)
    response = client.get("/healthz")
    assert response.content == b"degraded: cache unavailable, broker unavailable"
