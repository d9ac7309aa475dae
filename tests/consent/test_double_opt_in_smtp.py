"""Double opt-in end to end: the shop's API call, a real SMTP server, the customer's clicks."""

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from consent.models import ConsentState, Status, Topic
from core.apikeys import api_key_create
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def text_part(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def confirm_link(message) -> str:
    return re.search(r"https://shop\.example\.nl(/confirm/\S+)", text_part(message)).group(1)


def test_double_opt_in_through_a_real_smtp_server(
    client, smtp_server, django_capture_on_commit_callbacks
):
    key = api_key_create(name="shop", kind="admin")[1]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/subscriptions",
            data={
                "user_id": "501",
                "email": "eva@example.com",
                "topic": "newsletter",
                "language": "en",
            },
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
    assert response.status_code == 202
    (message,) = smtp_server.messages
    assert smtp_server.envelopes[0].rcpt_tos == ["eva@example.com"]
    assert message["Subject"] == "Please confirm your subscription"
    assert message.get_body(preferencelist=("html",)) is not None
    link = confirm_link(message)
    profile = Profile.objects.get(user_id="501")
    newsletter = Topic.objects.get(key="newsletter")

    def status() -> str:
        return ConsentState.objects.get(profile=profile, topic=newsletter).status

    assert client.get(link).status_code == 200
    assert status() == Status.PENDING  # a mail scanner following the link confirms nothing
    assert client.post(link, {"action": "confirm"}).context["state"] == "confirmed"
    assert status() == Status.CONFIRMED
    assert client.post(link, {"action": "confirm"}).context["state"] == "already_confirmed"


def test_an_expired_link_from_a_real_mail(client, smtp_server, django_capture_on_commit_callbacks):
    from consent.services import subscription_request

    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            topics=[Topic.objects.get(key="newsletter")],
            email="late@example.com",
            source="form",
            now=timezone.now(),
        )
    link = confirm_link(smtp_server.messages[0])
    later = timezone.now() + dt.timedelta(days=8)
    with time_machine.travel(later, tick=False):
        page = client.post(link, {"action": "confirm"})
        assert page.context["state"] == "expired"
        html = page.content.decode()  # Dutch customer, Dutch page, with a way on
        assert "Deze link is verlopen" in html
        assert 'value="resend">Stuur mij een nieuwe bevestigingsmail</button>' in html
        with django_capture_on_commit_callbacks(execute=True):
            client.post(link, {"action": "resend"})
        fresh = confirm_link(smtp_server.messages[-1])
        assert len(smtp_server.messages) == 2 and fresh != link
        assert client.get(fresh).context["state"] == "open"
