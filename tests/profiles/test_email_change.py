"""A customer changes their own address: the new one confirms, the old one is told."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from profiles.models import Profile
from profiles.services import email_change_request
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def links(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


@pytest.fixture
def customer():
    return ProfileFactory(email="oud@example.com", first_name="Sanne", language="nl")


def request_change(customer, new_email="nieuw@example.com"):
    return email_change_request(profile=customer, new_email=new_email, now=timezone.now())


@pytest.fixture
def requested(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_change(customer)
    verify = next(m for m in mail.outbox if m.to == ["nieuw@example.com"])
    notice = next(m for m in mail.outbox if m.to == ["oud@example.com"])
    return verify, notice


def test_the_new_address_gets_a_link_and_the_old_address_is_told(customer, requested):
    verify, notice = requested
    assert len(mail.outbox) == 2
    confirm_url = links(verify)[0]
    assert confirm_url.startswith("https://shop.example.nl/p/email/confirm/")
    assert "nieuw@example.com" in notice.body
    cancel_url = links(notice)[0]
    assert cancel_url.startswith("https://shop.example.nl/p/email/cancel/")
    # Like every mail: who sends it, and the privacy statement.
    for message in (verify, notice):
        assert "https://shop.example.nl/privacy/?lang=nl" in message.body
        assert "Klantbeeld demo shop" in message.body
    # Both speak the customer's language, plain text and HTML.
    assert "Sanne" in verify.body
    assert verify.alternatives and verify.alternatives[0][1] == "text/html"
    customer.refresh_from_db()
    assert customer.email == "oud@example.com"


def test_opening_the_link_changes_nothing_and_the_button_does(client, customer, requested):
    verify, _ = requested
    path = links(verify)[0].removeprefix("https://shop.example.nl")
    page = client.get(path)
    assert page.status_code == 200
    assert b'<form method="post"' in page.content
    customer.refresh_from_db()
    assert customer.email == "oud@example.com"

    done = client.post(path)
    assert done.status_code == 200
    customer.refresh_from_db()
    assert customer.email == "nieuw@example.com"
    change = customer.changes.first()
    assert change.source == "customer"
    assert change.changes == {"email": ["oud@example.com", "nieuw@example.com"]}

    again = client.post(path)
    assert again.status_code == 200
    assert again.context["state"] == "already_confirmed"
    assert client.get(path).context["state"] == "already_confirmed"


def test_the_link_expires(client, customer, requested):
    verify, _ = requested
    path = links(verify)[0].removeprefix("https://shop.example.nl")
    with time_machine.travel(timezone.now() + dt.timedelta(hours=49), tick=False):
        assert client.get(path).context["state"] == "expired"
        assert client.post(path).context["state"] == "expired"
    customer.refresh_from_db()
    assert customer.email == "oud@example.com"


def test_the_old_address_can_stop_the_change(client, customer, requested):
    verify, notice = requested
    cancel = links(notice)[0].removeprefix("https://shop.example.nl")
    assert client.get(cancel).status_code == 200
    client.post(cancel)
    confirm = links(verify)[0].removeprefix("https://shop.example.nl")
    assert client.post(confirm).context["state"] == "cancelled"
    customer.refresh_from_db()
    assert customer.email == "oud@example.com"


def test_an_address_taken_meanwhile_is_not_applied(client, customer, requested):
    verify, _ = requested
    ProfileFactory(email="nieuw@example.com")
    path = links(verify)[0].removeprefix("https://shop.example.nl")
    assert client.post(path).context["state"] == "taken"
    customer.refresh_from_db()
    assert customer.email == "oud@example.com"


def test_a_newer_request_makes_the_older_link_useless(
    client, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request_change(customer, "eerste@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        request_change(customer, "tweede@example.com")
    first = next(m for m in mail.outbox if m.to == ["eerste@example.com"])
    path = links(first)[0].removeprefix("https://shop.example.nl")
    assert client.post(path).context["state"] == "cancelled"


@pytest.mark.parametrize("new_email", ["geen-adres", "OUD@example.com"])
def test_an_invalid_or_unchanged_address_is_refused(customer, new_email):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        request_change(customer, new_email)
    assert "email" in excinfo.value.message_dict
    assert not mail.outbox


def test_a_made_up_link_shows_a_clear_page(client):
    response = client.get("/p/email/confirm/not-a-real-token/")
    assert response.status_code == 404
    assert response.context["state"] == "invalid"
    assert client.post("/p/email/confirm/not-a-real-token/").status_code == 404
    assert not Profile.objects.exists()
