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
