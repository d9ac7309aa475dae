"""Security, as an attacker meets it: one customer's link never reaches another's data, a
write key cannot read, a marketer cannot reach what the Marketer group does not allow,
and the customer's pages cannot be framed or made to run someone else's script."""

import base64
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.links import link_token
from consent.models import ConsentState, Status, Topic
from consent.services import ledger_append
from core.apikeys import api_key_create
from profiles.models import Profile
from surveys.models import Survey, SurveyKind
from surveys.services import invitation_create, invitation_token
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna_and_bram():
    newsletter = Topic.objects.get(key="newsletter")
    people = []
    for name in ("anna", "bram"):
        profile = ProfileFactory(user_id=name, email=f"{name}@example.com", first_name=name.title())
        ledger_append(
            profile=profile, topic=newsletter, action="confirmed", now=timezone.now(), source="api"
        )
        people.append(profile)
    return people


def test_a_customers_links_open_their_own_data_only(client, anna_and_bram):
    anna, bram = anna_and_bram
    page = client.get(f"/preferences/{link_token(anna, 'preferences')}/")
    assert "anna@example.com" in page.content.decode()
    assert "bram@example.com" not in page.content.decode()
    export = client.get(f"/preferences/{link_token(anna, 'preferences')}/my-data.json")
    assert export.json()["profile"]["email"] == "anna@example.com"
    assert "bram" not in json.dumps(export.json())


def test_a_link_works_only_for_what_it_was_made_for(client, anna_and_bram):
    anna, bram = anna_and_bram
    newsletter = Topic.objects.get(key="newsletter")
    # A preference link is no unsubscribe link, nor the other way round.
    as_unsubscribe = client.post(f"/unsubscribe/{link_token(anna, 'preferences')}")
    assert as_unsubscribe.status_code == 404
    as_preferences = client.get(f"/preferences/{link_token(anna, 'unsubscribe', newsletter)}/")
    assert as_preferences.status_code == 404
    # Anna's unsubscribe link withdraws Anna, never Bram.
    client.post(f"/unsubscribe/{link_token(anna, 'unsubscribe', newsletter)}")
    states = dict(ConsentState.objects.values_list("profile__user_id", "status"))
    assert states == {"anna": Status.WITHDRAWN, "bram": Status.CONFIRMED}


def test_erasing_through_a_link_erases_that_customer_only(client, anna_and_bram):
    anna, _bram = anna_and_bram
    client.post(f"/preferences/{link_token(anna, 'preferences')}/erase/", {"confirm": "yes"})
    assert Profile.objects.get(pk=anna.pk).erased_at is not None
    assert Profile.objects.get(user_id="bram").erased_at is None


def test_a_survey_link_is_one_customers_and_a_changed_one_opens_nothing(client, anna_and_bram):
    anna, _bram = anna_and_bram
    survey = Survey.objects.filter(kind=SurveyKind.NPS).first()
    invitation = invitation_create(survey=survey, profile=anna, now=timezone.now())
    token = invitation_token(invitation)
    assert client.get(f"/s/{token}/").status_code == 200
    nonce, mac = token.split(".", 1)
    forged = f"{nonce}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
    assert client.get(f"/s/{forged}/").status_code == 404


def test_a_write_key_cannot_read_and_an_admin_token_cannot_write_events(client, anna_and_bram):
    write_key = api_key_create(name="webshop", kind="write")[1]
    admin_token = api_key_create(name="backend", kind="admin")[1]
    for header in (
        f"Bearer {write_key}",
        "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
    ):
        assert client.get("/api/v1/profiles/anna", HTTP_AUTHORIZATION=header).status_code == 401
        assert (
            client.get("/api/v1/profiles/anna/export", HTTP_AUTHORIZATION=header).status_code == 401
        )
        assert client.delete("/api/v1/profiles/anna", HTTP_AUTHORIZATION=header).status_code == 401
    event = json.dumps({"userId": "anna", "event": "Product Viewed"})
    refused = client.post(
        "/api/v1/track",
        event,
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{admin_token}:".encode()).decode(),
    )
    assert refused.status_code == 401
    assert Profile.objects.get(user_id="anna").erased_at is None


def test_a_marketer_cannot_reach_keys_delete_customers_edit_the_ledger_or_erase(
    marketer_client, anna_and_bram
):
    anna, _bram = anna_and_bram
    forbidden = [
        reverse("admin:core_apikey_changelist"),
        reverse("admin:core_apikey_add"),
        reverse("admin:profiles_profile_delete", args=[anna.pk]),
        reverse("admin:consent_consentevent_add"),
    ]
    for url in forbidden:
        assert marketer_client.get(url).status_code == 403, url
    event = anna.consent_events.first()
    change = marketer_client.post(
        reverse("admin:consent_consentevent_change", args=[event.pk]), {"note": "changed"}
    )
    assert change.status_code == 403
    # Erasing is its own permission, which the Marketer group does not have: the action
    # is not offered, and posting it anyway erases nobody.
    changelist = marketer_client.get(reverse("admin:profiles_profile_changelist"))
    assert 'value="erase_selected"' not in changelist.content.decode()
    marketer_client.post(
        reverse("admin:profiles_profile_changelist"),
        {"action": "erase_selected", "_selected_action": [anna.pk], "post": "yes"},
    )
    assert Profile.objects.get(pk=anna.pk).erased_at is None


@pytest.mark.parametrize("path", ["/subscribe/", "/preferences/", "/privacy/", "/"])
def test_the_customers_pages_cannot_be_framed_nor_run_a_foreign_script(client, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self';" in policy + ";"  # no inline style on a customer's page
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"


def test_a_token_page_has_the_same_protection_and_is_never_cached(client, anna_and_bram):
    anna, _bram = anna_and_bram
    response = client.get(f"/preferences/{link_token(anna, 'preferences')}/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"  # the token never leaves in a Referer
