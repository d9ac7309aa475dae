"""Idempotency under concurrent repeats, on the real database."""

import base64
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from core.apikeys import api_key_create
from events.models import Event

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_same_batch_sent_by_eight_clients_at_once_is_stored_once():
    key = api_key_create(name="webshop", kind="write")[1]
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    body = json.dumps(
        {
            "batch": [
                {
                    "type": "track",
                    "anonymousId": "v1",
                    "event": "Product Viewed",
                    "messageId": f"dup-{n}",
                }
                for n in range(50)
            ]
        }
    )
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def send() -> None:
        client = Client()
        barrier.wait()
        statuses.append(
            client.post(
                "/api/v1/batch", body, content_type="application/json", HTTP_AUTHORIZATION=auth
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert Event.objects.count() == 50


def _send_all(auth: str, bodies: list[str]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def send(body: str) -> None:
        client = Client()
        barrier.wait()
        statuses.append(
            client.post(
                "/api/v1/batch", body, content_type="application/json", HTTP_AUTHORIZATION=auth
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_batches_about_the_same_new_customers_at_once_lose_nothing():
    """Six clients each report the same ten new customers (identify with an address, an
    order with the checkout's opt-out offer, a page view) at the same moment: no batch is
    refused or fails, each customer exists once with every event."""
    from profiles.models import Profile

    key = api_key_create(name="webshop", kind="write")[1]
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    bodies = []
    for client_no in range(6):
        batch = []
        for n in range(10):
            user = f"new-{n}"
            batch += [
                {
                    "type": "identify",
                    "userId": user,
                    "messageId": f"id-{client_no}-{n}",
                    "traits": {"email": f"{user}@example.com", "firstName": f"Klant {n}"},
                },
                {
                    "type": "track",
                    "userId": user,
                    "event": "Order Completed",
                    "messageId": f"order-{client_no}-{n}",
                    "properties": {
                        "order_id": f"{client_no}-{n}",
                        "total": 10,
                        "marketing_opt_out_offered": True,
                    },
                },
                {"type": "page", "userId": user, "name": "Home", "messageId": f"p-{client_no}-{n}"},
            ]
        # Each client walks the customers in another order, as real traffic does.
        batch = batch[client_no * 3 :] + batch[: client_no * 3]
        bodies.append(json.dumps({"batch": batch}))
    assert _send_all(auth, bodies) == [200] * 6
    assert Profile.objects.filter(user_id__startswith="new-").count() == 10
    assert Event.objects.count() == 180
    assert not Event.objects.filter(profile=None).exists()
