"""The public subscribe page: CSRF, a honeypot, limits per IP and per address."""

import pytest
import time_machine
from django.core import mail
from django.test import Client

from consent.models import ConsentState, Status
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def form(newsletter, **overrides):
    values = {
        "email": "anna@example.com",
        "first_name": "Anna",
        "topics": [newsletter.pk],
        "website": "",
    }
    values.update(overrides)
    return values


def test_the_form_shows_each_topic_with_its_consent_text(client, newsletter):
    html = client.get("/subscribe/?lang=nl").content.decode()
    assert newsletter.name_nl in html
    assert newsletter.current_text.text_nl in html
    english = client.get("/subscribe/?lang=en").content.decode()
    assert newsletter.current_text.text_en in english and "Subscribe" in english


def test_a_subscription_through_the_form_starts_a_double_opt_in(
    client, newsletter, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/subscribe/?lang=nl", form(newsletter))
    assert response.context["state"] == "check_mail"
    profile = Profile.objects.get(email="anna@example.com")
    assert ConsentState.objects.get(profile=profile, topic=newsletter).status == Status.PENDING
    assert mail.outbox[0].subject == "Bevestig uw aanmelding"


def test_the_form_needs_its_csrf_token(newsletter):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/subscribe/", form(newsletter)).status_code == 403
    assert not Profile.objects.exists()


def test_a_bot_filling_the_honeypot_gets_a_polite_page_and_nothing_happens(client, newsletter):
    response = client.post("/subscribe/", form(newsletter, website="http://spam.example"))
    assert response.context["state"] == "check_mail"
    assert not Profile.objects.exists() and not mail.outbox


def test_bad_input_is_named_on_the_form(client, newsletter):
    response = client.post(
        "/subscribe/?lang=en", form(newsletter, email="not-an-address", topics=[])
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"email", "topics"}
    assert not Profile.objects.exists()


# The limits count per fixed window: the clock stands still, so a run that happens to
# cross a window's edge cannot start counting again halfway.
FROZEN = "2026-11-23T10:00:30+00:00"


def test_one_ip_cannot_flood_the_form(newsletter):
    client = Client(REMOTE_ADDR="203.0.113.9")
    with time_machine.travel(FROZEN, tick=False):
        statuses = [
            client.post("/subscribe/", form(newsletter, email=f"bot{n}@example.com")).status_code
            for n in range(21)
        ]
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429


def test_one_address_cannot_be_flooded_with_confirmation_mails(
    newsletter, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), time_machine.travel(FROZEN, tick=False):
        for n in range(5):
            Client(REMOTE_ADDR=f"203.0.113.{n}").post("/subscribe/", form(newsletter))
    assert len(mail.outbox) == 3
