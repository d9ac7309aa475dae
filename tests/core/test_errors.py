"""One error hierarchy for the domain, answered one way on each surface: the management
API, the event API and the customer's pages."""

import base64
import json

import pytest
import time_machine
from django.test import Client

from campaigns.rendering import RenderError
from consent.links import LinkError
from consent.services import OptInError
from core.apikeys import api_key_create
from core.errors import DomainError
from core.ratelimit import RateLimited
from events.segment import BadMessage
from profiles.importing import ImportFileError
from profiles.services import EmailChangeError

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RateLimited("opt-in"), 429, "rate_limited"),
        (OptInError("expired"), 400, "expired"),
        (OptInError("invalid"), 404, "invalid"),
        (EmailChangeError("already_confirmed"), 400, "already_confirmed"),
        (LinkError("preferences"), 404, "invalid"),
        (BadMessage("must be an object", field="properties", index=3), 400, "invalid"),
        (BadMessage("at most 500 KB", field="body", too_large=True), 413, "too_large"),
        (ImportFileError("The file has no user_id column."), 400, "unreadable_file"),
        (RenderError("subject: unexpected end of template"), 400, "template_error"),
    ],
)
def test_every_refusal_of_the_domain_has_a_code_a_message_and_a_status(error, status, code):
    assert isinstance(error, DomainError)
    assert (error.status, error.code) == (status, code)
    assert error.detail() and error.body()["error"] == code


def test_the_management_api_answers_too_many_requests_with_its_code_and_retry_after(client):
    token = api_key_create(name="backend", kind="admin")[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = json.dumps({"email": "a@example.com", "topic": "newsletter"})
    with time_machine.travel("2026-11-23T10:00:30+00:00", tick=False):
        statuses = [
            client.post("/api/v1/subscriptions", body, "application/json", **headers)
            for _ in range(4)
        ]
    refused = statuses[-1]
    assert [r.status_code for r in statuses] == [202, 202, 202, 429]
    assert refused["Retry-After"] == "3600"
    assert refused.json()["error"] == "rate_limited"
    assert "try again later" in refused.json()["detail"]


def test_the_event_api_refuses_as_segment_and_as_the_rest_of_the_api(client):
    key = api_key_create(name="webshop", kind="write")[1]
    response = client.post(
        "/api/v1/track",
        json.dumps({"userId": "u1", "event": "Product Viewed", "properties": []}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode(),
    )
    body = response.json()
    assert response.status_code == 400
    # Segment's libraries read `code` and `message`; the rest of the API reads these three.
    assert (body["success"], body["code"], body["error"]) == (False, "invalid", "invalid")
    assert body["detail"] == body["message"] == "properties: must be an object"
    assert body["errors"] == [{"field": "properties", "message": "must be an object"}]


def test_a_customer_page_refusing_too_many_attempts_says_when_to_come_back():
    from consent.models import Topic

    newsletter = Topic.objects.get(key="newsletter")
    client = Client(REMOTE_ADDR="203.0.113.9")
    with time_machine.travel("2026-11-23T10:00:30+00:00", tick=False):
        for n in range(21):
            response = client.post(
                "/subscribe/",
                {"email": f"bot{n}@example.com", "topics": [newsletter.pk], "website": ""},
            )
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"


def _database_away(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError("server closed the connection unexpectedly")


def test_the_event_api_answers_a_database_that_is_away_with_json_503_and_retry_after(
    client, monkeypatch
):
    from events import views

    key = api_key_create(name="webshop", kind="write")[1]
    monkeypatch.setattr(views, "events_ingest", _database_away)
    response = client.post(
        "/api/v1/batch",
        json.dumps({"batch": [{"type": "track", "userId": "u1", "event": "Product Viewed"}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode(),
    )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert (response.json()["error"], response.json()["success"]) == ("unavailable", False)


def test_the_management_api_answers_a_database_that_is_away_with_json_503(client, monkeypatch):
    from profiles import api

    token = api_key_create(name="backend", kind="admin")[1]
    monkeypatch.setattr(api, "profile_as_dict", _database_away)
    from tests.factories import ProfileFactory

    ProfileFactory(user_id="u1")
    response = client.get("/api/v1/profiles/u1", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
