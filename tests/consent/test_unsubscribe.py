"""Withdrawal as easy as giving: RFC 8058 one-click, and links that belong to one customer."""

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.http import urlencode

from consent.links import link_token, list_unsubscribe_headers, mail_footer
from consent.models import Action, ConsentEvent, ConsentState, Source, Status
from consent.services import ledger_append
from tests.factories import ProfileFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(customer, newsletter):
    ledger_append(
        profile=customer, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    return customer


def status(profile, topic) -> str:
    return ConsentState.objects.get(profile=profile, topic=topic).status


def unsubscribe_path(profile, topic) -> str:
    header = list_unsubscribe_headers(profile, topic)["List-Unsubscribe"]
    return header.strip("<>").removeprefix("https://shop.example.nl")


def test_the_headers_follow_rfc_8058(subscribed, newsletter):
    headers = list_unsubscribe_headers(subscribed, newsletter)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = headers["List-Unsubscribe"]
    assert url.startswith("<https://shop.example.nl/unsubscribe/") and url.endswith(">")
    assert str(subscribed.public_id.hex) not in url and subscribed.email not in url


def test_a_one_click_post_urlencoded_withdraws_at_once_without_cookies(subscribed, newsletter):
    client = Client(enforce_csrf_checks=True)  # a mail client: no cookies, no CSRF token
    response = client.post(
        unsubscribe_path(subscribed, newsletter),
        data=urlencode({"List-Unsubscribe": "One-Click"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200  # not a redirect
    assert status(subscribed, newsletter) == Status.WITHDRAWN
    event = ConsentEvent.objects.get(action=Action.WITHDRAWN)
    assert event.source == "one_click"


def test_a_one_click_post_multipart_works_too(subscribed, newsletter):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        unsubscribe_path(subscribed, newsletter), {"List-Unsubscribe": "One-Click"}
    )
    assert response["Content-Type"].startswith("text/html")
    assert response.status_code == 200
    assert status(subscribed, newsletter) == Status.WITHDRAWN


def test_the_one_click_url_works_without_its_trailing_slash_too(subscribed, newsletter):
    # A mail client or a link rewriter that drops the slash must not get a 301: the
    # one-click POST needs its 200 at the URL it was sent to.
    path = unsubscribe_path(subscribed, newsletter).removesuffix("/")
    client = Client(enforce_csrf_checks=True)
    assert client.get(path).status_code == 200
    assert status(subscribed, newsletter) == Status.CONFIRMED  # a GET changes nothing
    response = client.post(
        path,
        data=urlencode({"List-Unsubscribe": "One-Click"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert status(subscribed, newsletter) == Status.WITHDRAWN


def test_opening_the_unsubscribe_link_only_shows_a_button(client, subscribed, newsletter):
    page = client.get(unsubscribe_path(subscribed, newsletter))
    assert page.status_code == 200
    assert b'method="post"' in page.content
    assert status(subscribed, newsletter) == Status.CONFIRMED


def test_unsubscribing_twice_is_harmless(client, subscribed, newsletter):
    path = unsubscribe_path(subscribed, newsletter)
    client.post(path)
    assert client.post(path).status_code == 200
    assert ConsentEvent.objects.filter(action=Action.WITHDRAWN).count() == 1


def test_a_token_of_customer_a_cannot_read_or_change_customer_b(client, subscribed, newsletter):
    other = ProfileFactory(email="bram@example.com", first_name="Bram")
    ledger_append(
        profile=other, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    token_a = link_token(subscribed, "preferences")
    page = client.get(f"/preferences/{token_a}/")
    assert "anna@example.com" in page.content.decode()
    assert "bram@example.com" not in page.content.decode()
    # Tampering with A's token gives nothing, and B stays subscribed.
    forged = token_a[:-3] + ("aaa" if not token_a.endswith("aaa") else "bbb")
    assert client.get(f"/preferences/{forged}/").status_code == 404
    assert client.post(f"/unsubscribe/{forged}/").status_code == 404
    assert status(other, newsletter) == Status.CONFIRMED


def test_a_token_is_good_for_its_own_purpose_only(client, subscribed, newsletter):
    preferences = link_token(subscribed, "preferences")
    unsubscribe = link_token(subscribed, "unsubscribe", newsletter)
    assert client.post(f"/unsubscribe/{preferences}/").status_code == 404
    assert client.get(f"/preferences/{unsubscribe}/").status_code == 404
    assert status(subscribed, newsletter) == Status.CONFIRMED


def test_every_commercial_or_service_mail_footer_has_the_links(
    subscribed, newsletter, transactional_topic
):
    footer = mail_footer(subscribed, newsletter)
    assert footer["unsubscribe_url"].startswith("https://shop.example.nl/unsubscribe/")
    assert footer["preferences_url"].startswith("https://shop.example.nl/preferences/")
    assert footer["privacy_url"] == "https://shop.example.nl/privacy/?lang=nl"
    assert footer["shop_name"] and footer["shop_address"]
    assert mail_footer(subscribed, transactional_topic)["unsubscribe_url"] is None


def test_the_footer_says_what_every_mail_says_plus_the_customers_links(
    subscribed, newsletter, service_topic, settings, monkeypatch
):
    from core import mail

    settings.SHOP_NAME, settings.SHOP_ADDRESS = "Fietsenwinkel De Spaak", "Markt 1, Gouda"
    footer = mail_footer(subscribed, service_topic)
    assert mail.mail_defaults("nl").items() <= footer.items()
    assert footer["unsubscribe_url"]  # service mail can be refused in one click too
    # One place says what every footer holds: a line added there reaches consent mail.
    defaults = mail.mail_defaults
    monkeypatch.setattr(
        "consent.links.mail_defaults", lambda language: {**defaults(language), "kvk": "1234"}
    )
    assert mail_footer(subscribed, newsletter)["kvk"] == "1234"


def test_the_page_speaks_the_customers_language(client, newsletter):
    english = ProfileFactory(language="en")
    ledger_append(
        profile=english, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    page = client.post(unsubscribe_path(english, newsletter))
    assert "You are unsubscribed" in page.content.decode()
    assert page["Content-Language"] == "en"
    dutch = ProfileFactory(language="nl")
    ledger_append(
        profile=dutch,
        topic=newsletter,
        action=Action.CONFIRMED,
        now=timezone.now(),
        source=Source.FORM,
    )
    page = client.post(unsubscribe_path(dutch, newsletter))
    assert page["Content-Language"] == "nl"
