"""The customer's own page, reached from a signed link in every mail."""

import datetime as dt
import json
import re

import pytest
from django.core import mail
from django.test import Client

from consent.links import link_token
from consent.models import Action, ConsentEvent, ConsentState, ContactPreference, Source, Status
from consent.selectors import send_permission
from consent.services import ledger_append
from profiles.models import Profile

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(customer):
    return f"/preferences/{link_token(customer, 'preferences')}/"


def data(**overrides):
    values = {
        "section": "data",
        "email": "anna@example.com",
        "first_name": "Anna",
        "last_name": "",
        "birth_date": "",
        "language": "nl",
        "timezone": "Europe/Amsterdam",
    }
    values.update(overrides)
    return values


def test_the_page_shows_the_customers_data_marks_required_fields_and_speaks_dutch(client, page):
    html = client.get(page).content.decode()
    assert 'value="anna@example.com"' in html
    assert 'class="required"' in html
    assert "Uw voorkeuren" in html
    assert "/privacy/?lang=nl" in html


def test_saving_the_form_untouched_loses_nothing(client, customer):
    import datetime as dt

    from consent.services import preferences_update

    customer.birth_date = dt.date(1984, 7, 9)
    customer.save()
    preferences_update(
        profile=customer, paused_until=dt.date(2027, 3, 1), max_frequency="", no_service_mail=False
    )
    url = f"/preferences/{link_token(customer, 'preferences')}/"
    html = client.get(url).content.decode()
    # What the browser gets back as the fields' values, it would send unchanged.
    assert 'value="1984-07-09"' in html and 'value="2027-03-01"' in html


def test_correcting_my_data_is_confirmed_and_recorded(client, page, customer):
    response = client.post(page, data(last_name="de Vries", birth_date="1990-04-02"), follow=True)
    assert "Uw gegevens zijn opgeslagen." in response.content.decode()
    customer.refresh_from_db()
    assert (customer.last_name, str(customer.birth_date)) == ("de Vries", "1990-04-02")
    assert customer.changes.first().source == "customer"


def test_a_bad_value_is_named_and_nothing_is_saved(client, page, customer):
    before = customer.last_name
    response = client.post(page, data(last_name="de Vries", birth_date="2999-01-01"))
    assert response.status_code == 200
    assert "toekomst" in response.content.decode()  # "cannot be in the future", in Dutch
    customer.refresh_from_db()
    assert customer.last_name == before


def test_a_new_address_is_verified_before_it_is_used(
    client, page, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page, data(email="nieuw@example.com"), follow=True)
    assert "nieuw@example.com" in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == "anna@example.com"
    assert {m.to[0] for m in mail.outbox} == {"nieuw@example.com", "anna@example.com"}


def test_choosing_a_topic_sends_a_confirmation_and_unticking_withdraws(
    client, page, customer, newsletter, service_topic, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page, {"section": "topics", "topics": ["newsletter", "service"]})
    assert ConsentState.objects.get(profile=customer, topic=newsletter).status == Status.PENDING
    assert len(mail.outbox) == 1
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    response = client.post(page, {"section": "topics", "topics": []}, follow=True)
    assert "Uw keuzes zijn opgeslagen." in response.content.decode()
    assert ConsentState.objects.get(profile=customer, topic=newsletter).status == Status.WITHDRAWN
    assert (
        ConsentState.objects.get(profile=customer, topic=service_topic).status == Status.WITHDRAWN
    )
    assert not send_permission(profile=customer, topic=service_topic, now=NOW).allowed
    # Service mail can be turned back on right here: no confirmation needed, it is
    # simply no longer refused (and the ledger says the customer resumed it).
    client.post(page, {"section": "topics", "topics": ["service"]})
    assert send_permission(profile=customer, topic=service_topic, now=NOW).allowed
    assert ConsentEvent.objects.filter(
        profile=customer, topic=service_topic, action=Action.RESUMED
    ).exists()
    response = client.get(page)
    assert re.search(r'value="service"[^>]*checked', response.content.decode())


def test_pause_frequency_and_no_service_mail(client, page, customer):
    client.post(
        page,
        {
            "section": "frequency",
            "max_frequency": "weekly",
            "paused_until": "2027-01-15",
            "no_service_mail": "on",
        },
    )
    preference = ContactPreference.objects.get(profile=customer)
    assert (preference.max_frequency, preference.paused_until, preference.no_service_mail) == (
        "weekly",
        dt.date(2027, 1, 15),
        True,
    )


def test_unsubscribe_from_everything(client, page, customer, newsletter):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    response = client.post(page, {"section": "everything"}, follow=True)
    assert "overal voor afgemeld" in response.content.decode()
    assert ConsentState.objects.get(profile=customer, topic=newsletter).status == Status.WITHDRAWN
    assert customer.suppressions.filter(reason="unsubscribed_all", lifted_at=None).exists()


def test_download_my_data(client, page, customer, newsletter):
    ledger_append(
        profile=customer,
        topic=newsletter,
        action=Action.CONFIRMED,
        now=NOW,
        source=Source.FORM,
        ip="192.0.2.1",
    )
    response = client.get(page + "my-data.json")
    assert response["Content-Disposition"].startswith("attachment")
    export = json.loads(response.content)
    assert export["profile"]["email"] == "anna@example.com"
    assert export["consent_ledger"][0]["ip"] == "192.0.2.1"
    assert set(export) >= {
        "profile",
        "history",
        "consent_ledger",
        "events",
        "deliveries",
        "survey_answers",
    }


def test_my_data_holds_my_limits_do_not_contact_entries_and_pending_address_change(
    client, page, customer, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from consent.services import preferences_update, suppression_add, suppression_lift
    from profiles.services import email_change_request

    preferences_update(
        profile=customer,
        paused_until=dt.date(2026, 12, 31),
        max_frequency="weekly",
        no_service_mail=True,
    )
    complaint = suppression_add(
        profile=customer, reason="complaint", now=NOW, note="called the helpdesk, angry"
    )
    suppression_lift(suppression=complaint, now=NOW + dt.timedelta(days=2), because="by staff")
    suppression_add(profile=customer, reason="unsubscribed_all", now=NOW + dt.timedelta(days=3))
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        email_change_request(profile=customer, new_email="anna.nieuw@example.com", now=now)
    export = json.loads(client.get(page + "my-data.json").content)

    assert export["contact_preferences"] == [
        {
            "paused_until": "2026-12-31",
            "max_frequency": "weekly",
            "no_service_mail": True,
            "updated_at": export["contact_preferences"][0]["updated_at"],
        }
    ]
    assert [(s["reason"], s["since"][:10], s["lifted_at"]) for s in export["suppressions"]] == [
        ("complaint", "2026-11-23", (NOW + dt.timedelta(days=2)).isoformat()),
        ("unsubscribed_all", "2026-11-26", None),
    ]
    assert "angry" not in json.dumps(export)  # staff notes stay internal
    (change,) = export["email_changes"]
    assert (change["new_email"], change["status"]) == ("anna.nieuw@example.com", "pending")
    assert change["requested_at"] == now.isoformat()
    assert dt.datetime.fromisoformat(change["expires_at"]) > now


def test_erase_me_asks_first_then_erases(client, page, customer):
    confirm = client.get(page + "erase/")
    assert b'name="confirm"' in confirm.content
    customer.refresh_from_db()
    assert customer.erased_at is None
    client.post(page + "erase/", {"confirm": "yes"})
    customer.refresh_from_db()
    assert customer.erased_at is not None
    assert client.get(page).status_code == 404  # the old link is dead


def test_the_page_is_in_english_for_an_english_customer(client):
    from tests.factories import ProfileFactory

    english = ProfileFactory(language="en")
    html = client.get(f"/preferences/{link_token(english, 'preferences')}/").content.decode()
    assert "Your preferences" in html and '<html lang="en">' in html


def test_a_fresh_link_by_mail_without_telling_who_is_known(
    client, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/preferences/", {"email": "ANNA@example.com"})
        unknown = client.post("/preferences/", {"email": "nobody@example.com"})
    assert known.content == unknown.content
    (message,) = mail.outbox
    assert message.to == ["anna@example.com"]
    # Anyone can ask for this mail: it does not repeat a name someone may have typed.
    assert message.body.startswith("Hallo,") and "Anna" not in message.body
    link = re.search(r"https://shop\.example\.nl(/preferences/[^/\s]+/)", message.body).group(1)
    assert client.get(link).status_code == 200


def test_asking_for_links_is_rate_limited(customer, django_capture_on_commit_callbacks):
    client = Client(REMOTE_ADDR="203.0.113.5")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            client.post("/preferences/", {"email": "anna@example.com"})
    assert len(mail.outbox) == 3  # per address
    for _ in range(20):
        last = client.post("/preferences/", {"email": "other@example.com"})
    assert last.status_code == 429  # per IP


def test_privacy_statement_in_both_languages(client):
    dutch = client.get("/privacy/?lang=nl").content.decode()
    english = client.get("/privacy/?lang=en").content.decode()
    assert "Uw rechten" in dutch and "Autoriteit Persoonsgegevens" in dutch
    assert "Your rights" in english
    assert Profile.objects.count() == 0


def test_every_customer_page_links_the_privacy_statement(client, page, newsletter, customer):
    from consent.links import link_token as token

    for url in (
        page,
        "/subscribe/",
        "/preferences/",
        f"/unsubscribe/{token(customer, 'unsubscribe', newsletter)}/",
    ):
        assert "/privacy/?lang=" in client.get(url).content.decode(), url
    assert ConsentEvent.objects.count() == 0


def test_the_sites_root_is_a_front_door_in_both_languages(client):
    dutch = client.get("/?lang=nl")
    english = client.get("/?lang=en")
    assert dutch.status_code == english.status_code == 200
    assert "Aanmelden voor onze mail" in dutch.content.decode()
    assert "Subscribe to our mail" in english.content.decode()
    for path in ("/subscribe/", "/preferences/", "/admin/"):
        assert f'href="{path}"' in dutch.content.decode()


def test_the_browsers_favicon_request_finds_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
