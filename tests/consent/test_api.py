"""The management API as the shop's own systems call it."""

import json

import pytest
from django.core import mail
from django.core.management import call_command

from consent.models import Action, ConsentState, Source, Status
from consent.services import ledger_append
from core.apikeys import api_key_create
from profiles.models import Profile
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_key():
    return api_key_create(name="shop backend", kind="admin")[1]


@pytest.fixture
def api(client, admin_key):
    def call(method, path, body=None, key=admin_key, **extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        kwargs = {"content_type": "application/json"} if body is not None else {}
        data = json.dumps(body) if isinstance(body, dict | list) else body
        return getattr(client, method)(f"/api/v1{path}", data=data, **kwargs, **headers, **extra)

    return call


def test_create_api_key_prints_the_key_as_its_last_line(capsys):
    call_command("create_api_key", "webshop", "--kind", "admin")
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("kb_admin_")
    from core.models import ApiKey

    key = ApiKey.objects.get(name="webshop")
    assert out[-1] not in key.key_hash and len(key.key_hash) == 64  # only a hash is stored


@pytest.mark.parametrize("kind", ["none", "wrong", "write", "revoked"])
def test_the_management_api_refuses_anything_but_a_live_admin_token(api, kind):
    from django.utils import timezone

    from core.models import ApiKey

    key = {
        "none": None,
        "wrong": "kb_admin_nope",
        "write": api_key_create(name="w", kind="write")[1],
    }.get(kind)
    if kind == "revoked":
        key = api_key_create(name="old", kind="admin")[1]
        ApiKey.objects.filter(name="old").update(revoked_at=timezone.now())
    ProfileFactory(user_id="42")
    response = api("get", "/profiles/42", key=key)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_profile_with_its_consent_per_topic(api, newsletter):
    profile = ProfileFactory(
        user_id="42", email="anna@example.com", first_name="Anna", birth_date="1990-02-14"
    )
    ledger_append(
        profile=profile, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    body = api("get", "/profiles/42").json()
    assert {
        k: body[k]
        for k in (
            "user_id",
            "email",
            "first_name",
            "birth_date",
            "timezone",
            "language",
            "lifecycle_stage",
            "suppressed",
        )
    } == {
        "user_id": "42",
        "email": "anna@example.com",
        "first_name": "Anna",
        "birth_date": "1990-02-14",
        "timezone": "Europe/Amsterdam",
        "language": "nl",
        "lifecycle_stage": "prospect",
        "suppressed": False,
    }
    (consent,) = [c for c in body["consents"] if c["topic"] == "newsletter"]
    assert consent["status"] == "confirmed" and consent["basis"] == "double_opt_in"
    assert consent["confirmed_at"].startswith("2026-11-23T12:00")
    assert consent["withdrawn_at"] is None and "requested_at" in consent
    assert api("get", "/profiles/nobody").status_code == 404


def test_the_export_holds_everything_on_the_person(api, newsletter):
    profile = ProfileFactory(user_id="42")
    ledger_append(
        profile=profile,
        topic=newsletter,
        action=Action.CONFIRMED,
        now=NOW,
        source=Source.FORM,
        ip="192.0.2.1",
        consent_text_id=newsletter.current_text_id,
    )
    from profiles.services import profile_update

    profile_update(profile=profile, data={"city": "Zwolle"}, source="api")
    export = api("get", "/profiles/42/export").json()
    assert set(export) == {
        "profile",
        "history",
        "email_changes",
        "consent_ledger",
        "contact_preferences",
        "suppressions",
        "events",
        "deliveries",
        "survey_answers",
    }
    assert export["profile"]["user_id"] == "42"
    assert export["history"][-1]["changes"] == {"city": ["", "Zwolle"]}
    assert export["consent_ledger"][0]["ip"] == "192.0.2.1"
    assert export["consent_ledger"][0]["consent_text"] == newsletter.current_text.text_nl


def test_delete_erases_the_person(api):
    ProfileFactory(user_id="42", email="weg@example.com")
    response = api("delete", "/profiles/42")
    assert response.status_code == 200
    assert response.json()["erased"] is True
    assert not Profile.objects.filter(email="weg@example.com").exists()
    assert api("get", "/profiles/42").status_code == 404


def test_a_subscription_through_the_api_starts_a_double_opt_in(
    api, newsletter, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(
            "post",
            "/subscriptions",
            {"user_id": "77", "email": "Nieuw@Example.com", "topic": "newsletter"},
        )
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    profile = Profile.objects.get(user_id="77")
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.PENDING
    assert mail.outbox[0].to == ["nieuw@example.com"]
    body = api("get", "/profiles/77").json()
    assert next(c for c in body["consents"] if c["topic"] == "newsletter")["status"] == "pending"


def test_a_known_customer_can_be_subscribed_by_user_id_alone(
    api, newsletter, django_capture_on_commit_callbacks
):
    ProfileFactory(user_id="42", email="anna@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            api("post", "/subscriptions", {"user_id": "42", "topic": "newsletter"}).status_code
            == 202
        )
    assert mail.outbox[0].to == ["anna@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "1", "email": "x@example.com"}, "topic"),
        ({"user_id": "1", "email": "x@example.com", "topic": "nonsense"}, "topic"),
        ({"user_id": "1", "email": "x@example.com", "topic": "service"}, "topic"),
        ({"user_id": "1", "email": "not-an-address", "topic": "newsletter"}, "email"),
        ({"user_id": "1", "topic": "newsletter"}, "email"),
        ({"topic": "newsletter"}, "user_id"),
        ({"user_id": ["not", "a", "string"], "topic": "newsletter"}, "user_id"),
        ({"user_id": "10\x0001", "email": "x@example.com", "topic": "newsletter"}, "user_id"),
        ({"user_id": "10\x1b01", "email": "x@example.com", "topic": "newsletter"}, "user_id"),
        ({"user_id": "1", "email": "x@example.com", "topic": "news\x00letter"}, "topic"),
        ({"user_id": "1", "email": "x@example.com", "topic": "x" * 300}, "topic"),
        ({"user_id": "1", "email": "x@example.com", "topics": ["newsletter", "a b"]}, "topics"),
        ("{not json", "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, newsletter, body, field):
    response = api("post", "/subscriptions", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid"
    assert field in [e["field"] for e in payload["errors"]], payload
    assert not Profile.objects.exists() and not mail.outbox


def test_a_user_id_with_control_characters_is_named_in_dutch(api, newsletter):
    body = {"user_id": "10\x0001", "email": "x@example.com", "topic": "newsletter"}
    errors = api("post", "/subscriptions", body).json()["errors"]
    assert errors == [{"field": "user_id", "message": "Bevat onzichtbare stuurtekens."}]


@pytest.mark.parametrize("user_id", ["a%00b", "a%1Bb", "a%7Fb"])
def test_a_profile_path_with_control_characters_is_not_found_never_a_500(api, user_id):
    for method, path in [
        ("get", f"/profiles/{user_id}"),
        ("get", f"/profiles/{user_id}/export"),
        ("delete", f"/profiles/{user_id}"),
    ]:
        assert api(method, path).status_code == 404, (method, path)


def test_the_api_is_limited_per_address_not_per_ip(
    api, newsletter, django_capture_on_commit_callbacks
):
    statuses = []
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            statuses.append(
                api(
                    "post",
                    "/subscriptions",
                    {"user_id": f"u{n}", "email": f"u{n}@example.com", "topic": "newsletter"},
                ).status_code
            )
        for _ in range(3):
            statuses.append(
                api("post", "/subscriptions", {"user_id": "u0", "topic": "newsletter"}).status_code
            )
    assert statuses == [202, 202, 202, 202, 202, 202, 429]


def test_the_topics_are_listed(api):
    topics = {t["key"]: t for t in api("get", "/topics", key=None).json()}
    assert topics["newsletter"]["category"] == "commercial"
    assert topics["newsletter"]["double_opt_in"] is True
    assert topics["newsletter"]["name"]["nl"]


def test_only_the_topics_customers_can_choose_are_listed(api):
    from consent.models import Topic

    Topic.objects.create(
        key="vip-pilot", name_nl="Pilot", name_en="Pilot", category="commercial", public=False
    )
    Topic.objects.filter(key="transactional").update(public=True)  # even if made public
    keys = {t["key"] for t in api("get", "/topics", key=None).json()}
    assert "newsletter" in keys and "service" in keys
    assert "vip-pilot" not in keys and "transactional" not in keys


def test_an_openapi_document_is_served(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/profiles/{user_id}", "/api/v1/subscriptions", "/api/v1/topics"} <= set(
        schema["paths"]
    )
