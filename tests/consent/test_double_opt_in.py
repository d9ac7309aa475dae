"""Double opt-in as the customer meets it: a mail, a link, a button."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from consent.models import Action, ConsentEvent, ConsentState, Source, Status
from consent.services import (
    consent_withdraw,
    opt_ins_expire,
    subscription_request,
    topic_text_set,
)
from core.ratelimit import RateLimited
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def confirm_path(message) -> str:
    (url,) = re.findall(r"https://shop\.example\.nl(/confirm/[^\s\"]+)", message.body)
    return url


@pytest.fixture
def subscribe(newsletter, django_capture_on_commit_callbacks):
    def run(email="anna@example.com", **kwargs):
        kwargs.setdefault("source", Source.FORM)
        kwargs.setdefault("now", timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            return subscription_request(topics=[newsletter], email=email, **kwargs)

    return run


def state(profile, topic) -> ConsentState:
    return ConsentState.objects.get(profile=profile, topic=topic)


def test_a_new_address_gets_a_confirmation_mail_in_its_language(subscribe, newsletter):
    outcome = subscribe("Nieuw@Example.com", first_name="Sanne", language="nl", ip="192.0.2.1")
    (message,) = mail.outbox
    assert message.to == ["nieuw@example.com"]
    assert message.subject == "Bevestig uw aanmelding"
    assert message.body.startswith("Hallo,\n")
    assert confirm_path(message).startswith("/confirm/")
    assert "https://shop.example.nl/privacy/" in message.body
    profile = outcome.profile
    assert state(profile, newsletter).status == Status.PENDING
    requested = ConsentEvent.objects.get(profile=profile, action=Action.REQUESTED)
    assert (requested.source, requested.ip) == ("form", "192.0.2.1")
    assert requested.consent_text == newsletter.current_text


def test_the_mail_never_repeats_the_name_typed_on_the_form(subscribe):
    # Anyone can type someone else's address: the name is unverified, so no greeting by it.
    subscribe("bea@example.com", first_name="Sukkel", language="nl")
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    assert "Sukkel" not in message.body and "Sukkel" not in html
    assert message.body.startswith("Hallo,\n") and "<p>Hallo,</p>" in html


def test_english_speakers_get_english(subscribe):
    subscribe("bob@example.com", language="en")
    assert mail.outbox[0].subject == "Please confirm your subscription"


def test_opening_the_link_changes_nothing_and_the_button_confirms(client, subscribe, newsletter):
    outcome = subscribe()
    path = confirm_path(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert newsletter.current_text.text_nl in html  # the consent text, shown before confirming
    assert 'method="post"' in html
    assert state(outcome.profile, newsletter).status == Status.PENDING

    done = client.post(
        path, {"action": "confirm"}, REMOTE_ADDR="198.51.100.9", HTTP_USER_AGENT="Mozilla/5.0 Test"
    )
    assert done.status_code == 200
    assert done.context["state"] == "confirmed"
    confirmed = state(outcome.profile, newsletter)
    assert (confirmed.status, confirmed.basis) == (Status.CONFIRMED, "double_opt_in")
    event = ConsentEvent.objects.get(profile=outcome.profile, action=Action.CONFIRMED)
    assert (event.ip, event.user_agent, event.source) == (
        "198.51.100.9",
        "Mozilla/5.0 Test",
        "form",
    )
    assert event.consent_text == newsletter.current_text


def test_a_used_link_says_already_confirmed_not_an_error(client, subscribe):
    subscribe()
    path = confirm_path(mail.outbox[0])
    client.post(path, {"action": "confirm"})
    again = client.post(path, {"action": "confirm"})
    assert again.status_code == 200
    assert again.context["state"] == "already_confirmed"
    assert client.get(path).context["state"] == "already_confirmed"
    assert ConsentEvent.objects.filter(action=Action.CONFIRMED).count() == 1


def test_an_expired_link_offers_a_fresh_mail(
    client, subscribe, newsletter, django_capture_on_commit_callbacks
):
    outcome = subscribe()
    path = confirm_path(mail.outbox[0])
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1), tick=False):
        page = client.get(path)
        assert page.context["state"] == "expired"
        assert client.post(path, {"action": "confirm"}).context["state"] == "expired"
        assert state(outcome.profile, newsletter).status == Status.PENDING
        with django_capture_on_commit_callbacks(execute=True):
            resent = client.post(path, {"action": "resend"})
        assert resent.context["state"] == "check_mail"
    assert len(mail.outbox) == 2
    fresh = confirm_path(mail.outbox[1])
    assert fresh != path
    client.post(fresh, {"action": "confirm"})
    assert state(outcome.profile, newsletter).status == Status.CONFIRMED


def test_unconfirmed_requests_expire_in_the_ledger(subscribe, newsletter):
    outcome = subscribe()
    later = timezone.now() + dt.timedelta(days=8)
    assert opt_ins_expire(now=later) == 1
    assert opt_ins_expire(now=later) == 0  # once only
    assert state(outcome.profile, newsletter).status == Status.NONE
    assert ConsentEvent.objects.filter(action=Action.EXPIRED).count() == 1


def test_a_fourth_request_within_the_hour_is_refused(subscribe):
    for _ in range(3):
        subscribe()
    with pytest.raises(RateLimited):
        subscribe()
    assert len(mail.outbox) == 3


def test_an_already_confirmed_subscriber_gets_no_second_mail(client, subscribe):
    subscribe()
    client.post(confirm_path(mail.outbox[0]), {"action": "confirm"})
    outcome = subscribe()
    assert outcome.pending == [] and len(outcome.already) == 1
    assert len(mail.outbox) == 1


def test_re_subscribing_after_withdrawal_needs_a_new_confirmation(client, subscribe, newsletter):
    outcome = subscribe()
    client.post(confirm_path(mail.outbox[0]), {"action": "confirm"})
    consent_withdraw(
        profile=outcome.profile, topic=newsletter, now=timezone.now(), source=Source.ONE_CLICK
    )
    subscribe()
    assert state(outcome.profile, newsletter).status == Status.PENDING
    assert len(mail.outbox) == 2
    client.post(confirm_path(mail.outbox[1]), {"action": "confirm"})
    assert state(outcome.profile, newsletter).status == Status.CONFIRMED


def test_a_changed_consent_text_is_a_new_version_and_old_consents_keep_theirs(
    client, subscribe, newsletter
):
    first = subscribe()
    client.post(confirm_path(mail.outbox[0]), {"action": "confirm"})
    old_text = newsletter.current_text
    new_text = topic_text_set(topic=newsletter, text_nl="Nieuwe tekst", text_en="New text")
    assert new_text.version == old_text.version + 1
    second = subscribe("bram@example.com")
    client.post(confirm_path(mail.outbox[1]), {"action": "confirm"})
    assert state(first.profile, newsletter).consent_text == old_text
    assert state(second.profile, newsletter).consent_text == new_text
    assert topic_text_set(topic=newsletter, text_nl="Nieuwe tekst", text_en="New text") == new_text


def test_only_commercial_topics_take_a_subscription(service_topic):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        subscription_request(
            topics=[service_topic], email="a@example.com", source=Source.API, now=timezone.now()
        )
    assert "topic" in excinfo.value.message_dict
    assert not Profile.objects.exists()


def test_a_subscriber_who_is_not_a_customer_gets_a_key_of_our_own(subscribe):
    outcome = subscribe("los@example.com")
    assert outcome.profile.user_id.startswith("subscriber-")
    assert outcome.profile.changes.get().source == "customer"


def test_no_secret_travels_through_the_task_queue(
    newsletter, monkeypatch, django_capture_on_commit_callbacks
):
    """What goes to the broker is the request's id; the token is made by the mail task."""
    from consent import tasks
    from profiles import tasks as profile_tasks
    from profiles.services import email_change_request

    queued: list[tuple] = []
    for task in (tasks.send_opt_in_mail, profile_tasks.send_email_change_mail):
        original = task.delay
        monkeypatch.setattr(
            task, "delay", lambda *args, _o=original: (queued.append(args), _o(*args))
        )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = subscription_request(
            topics=[newsletter], email="a@example.com", source=Source.FORM, now=timezone.now()
        )
        email_change_request(profile=outcome.profile, new_email="b@example.com", now=timezone.now())
    change_id = outcome.profile.email_change_requests.get().pk
    assert queued == [(outcome.request.pk,), (change_id, "verify"), (change_id, "notice")]
    assert len(mail.outbox) == 3
