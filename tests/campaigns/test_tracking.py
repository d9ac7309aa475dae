"""Tracking webhooks: the ESP tells us a customer opened or clicked a mail, that it bounced,
that they complained or unsubscribed — at /anymail/<esp>/tracking/, behind
ANYMAIL_WEBHOOK_SECRET. The mails go out through the real sending path on an anymail
backend that hands out Postmark-style message ids; the webhooks are Postmark's and
SendGrid's own JSON, posted over HTTP."""

import base64
import datetime as dt
import json
import logging
import uuid

import pytest
import time_machine
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailInsecureWebhookWarning
from django.core import mail
from django.test import Client, override_settings
from django.urls import resolve, reverse

from campaigns.models import Campaign, Delivery, Send, Template
from consent.models import Action, ConsentEvent, ConsentState, Source, Suppression, Topic
from consent.selectors import address_hash
from consent.services import suppression_lift
from profiles.models import Selection
from profiles.services import profile_update

from .conftest import at, confirm, only_campaigns, tick

pytestmark = pytest.mark.django_db

SECRET = "klantbeeld:Geheim-webhook-wachtwoord"
URL = "/anymail/postmark/tracking/"


class PostmarkLikeBackend(AnymailTestBackend):
    """anymail's test backend, with message ids as Postmark hands them out."""

    def get_esp_message_id(self, message):
        return str(uuid.uuid4())


@pytest.fixture(autouse=True)
def _esp():
    with (
        override_settings(
            EMAIL_BACKEND=f"{__name__}.PostmarkLikeBackend",
            ANYMAIL={"WEBHOOK_SECRET": SECRET},
        ),
        # Webhooks arrive a few hours after the newsletter went out.
        time_machine.travel(at(hours=3), tick=False),
    ):
        yield


def newsletter(key: str, when: dt.datetime) -> Campaign:
    made = Campaign.objects.create(
        key=key,
        name=key,
        topic=Topic.objects.get(key="newsletter"),
        status="live",
        trigger="scheduled",
        scheduled_at=when,
        selection=Selection.objects.get_or_create(
            name="Nederlandstalig",
            defaults={
                "definition": {
                    "kind": "field",
                    "params": {"field": "language", "operator": "eq", "value": "nl"},
                }
            },
        )[0],
    )
    Template.objects.create(
        campaign=made, language="nl", subject=f"{key} nieuws", html="<p>Hallo</p>", text="Hallo"
    )
    return made


@pytest.fixture
def delivery(anna) -> Delivery:
    """Anna subscribed to the newsletter and got one, through the ESP."""
    only_campaigns()
    confirm(anna, when=at(days=-5))
    newsletter("november", at())
    tick(at(minutes=1))
    return Delivery.objects.get(profile=anna)


def post(payload, *, auth: str | None = SECRET, url: str = URL):
    headers = {}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return Client().post(url, json.dumps(payload), content_type="application/json", **headers)


def postmark_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def postmark_open(d: Delivery, when: dt.datetime, **extra) -> dict:
    return {
        "RecordType": "Open",
        "MessageStream": "broadcast",
        "FirstOpen": True,
        "Client": {"Name": "Chrome 120", "Company": "Google", "Family": "Chrome"},
        "OS": {"Name": "Windows 10", "Company": "Microsoft", "Family": "Windows"},
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
        "ReadSeconds": 5,
        "Geo": {"CountryISOCode": "NL", "Country": "Netherlands", "City": "Utrecht"},
        "MessageID": d.message_id,
        "Metadata": {"send_id": str(d.send_id), "campaign": d.campaign.key},
        "ReceivedAt": postmark_time(when),
        "Tag": d.campaign.key,
        "Recipient": d.profile.email,
        **extra,
    }


def postmark_click(d: Delivery, when: dt.datetime) -> dict:
    return {
        **postmark_open(d, when),
        "RecordType": "Click",
        "ClickLocation": "HTML",
        "OriginalLink": "https://shop.example.nl/aanbiedingen",
    }


def postmark_bounce(d: Delivery, when: dt.datetime, kind: str = "HardBounce", **extra) -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1 if kind == "HardBounce" else 4096,
        "Name": "Hard bounce" if kind == "HardBounce" else "Soft bounce",
        "Tag": d.campaign.key,
        "MessageID": d.message_id,
        "Metadata": {"send_id": str(d.send_id), "campaign": d.campaign.key},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": d.profile.email,
        "From": "noreply@shop.example.nl",
        "BouncedAt": postmark_time(when),
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": d.subject,
        **extra,
    }


def postmark_complaint(d: Delivery, when: dt.datetime) -> dict:
    return {
        **postmark_bounce(d, when),
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Details": "Test spam complaint details",
        "CanActivate": False,
    }


def postmark_unsubscribe(d: Delivery, when: dt.datetime) -> dict:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": d.message_id,
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": postmark_time(when),
        "Recipient": d.profile.email,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": d.campaign.key,
        "Metadata": {"send_id": str(d.send_id), "campaign": d.campaign.key},
    }


def state(profile) -> str:
    return ConsentState.objects.get(profile=profile, topic__key="newsletter").status


def withdrawals(profile) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(profile=profile, action=Action.WITHDRAWN))


def test_every_esp_anymail_supports_has_its_tracking_webhook_under_anymail():
    from anymail.urls import urlpatterns

    names = [p.name for p in urlpatterns if p.name and p.name.endswith("_tracking_webhook")]
    assert "postmark_tracking_webhook" in names and len(names) >= 14
    for name in names:
        esp = name.removesuffix("_tracking_webhook")
        assert reverse(f"anymail:{name}") == f"/anymail/{esp}/tracking/"
        assert resolve(f"/anymail/{esp}/tracking/").url_name == name


def test_the_mail_tells_the_esp_which_send_it_is(delivery):
    [sent] = mail.outbox
    assert sent.anymail_test_params["metadata"] == {
        "send_id": str(delivery.send_id),
        "campaign": "november",
    }
    assert delivery.message_id == str(sent.anymail_status.message_id)


@pytest.mark.parametrize("auth", [None, "klantbeeld:fout", "iemand:anders"])
def test_a_webhook_without_the_right_secret_changes_nothing(delivery, auth):
    response = post(postmark_complaint(delivery, at(hours=1)), auth=auth)
    assert response.status_code == 400
    delivery.refresh_from_db()
    assert delivery.complained_at is None
    assert not Suppression.objects.exists()
    assert state(delivery.profile) == "confirmed"


def test_without_a_secret_configured_the_webhooks_refuse_everything(delivery):
    # anymail alone would accept anyone's webhooks then (and only warn).
    with (
        override_settings(ANYMAIL={}),
        pytest.warns(AnymailInsecureWebhookWarning),
    ):
        response = post(postmark_complaint(delivery, at(hours=1)), auth="wie:dan-ook")
    assert response.status_code == 400
    assert not Suppression.objects.exists()
    assert withdrawals(delivery.profile) == []


def test_an_open_then_a_click_are_recorded_once_each(delivery):
    assert post(postmark_open(delivery, at(hours=1))).status_code == 200
    assert post(postmark_open(delivery, at(hours=2))).status_code == 200  # opened again
    assert post(postmark_click(delivery, at(hours=2, minutes=5))).status_code == 200
    assert post(postmark_click(delivery, at(hours=2, minutes=9))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.opened_at == at(hours=1)
    assert delivery.clicked_at == at(hours=2, minutes=5)
    assert delivery.bounced_at is None and delivery.complained_at is None


def test_a_click_counts_as_an_open_too(delivery):
    # Images blocked: the open pixel never loaded, but the customer clicked.
    assert post(postmark_click(delivery, at(hours=1))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.opened_at == delivery.clicked_at == at(hours=1)


def test_a_hard_bounce_stops_mail_to_the_address_and_the_next_newsletter_is_skipped(delivery, anna):
    assert post(postmark_bounce(delivery, at(hours=1))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounced_at == at(hours=1)
    [suppression] = Suppression.objects.all()
    assert suppression.reason == "hard_bounce"
    assert suppression.profile == anna
    assert suppression.email_hash == address_hash("anna@example.com")

    mail.outbox.clear()
    newsletter("december", at(days=1))
    tick(at(days=1, minutes=1))
    assert mail.outbox == []
    skipped = Send.objects.get(profile=anna, campaign__key="december")
    assert (skipped.status, skipped.reason) == ("skipped", "suppressed")


@pytest.mark.parametrize("kind", ["SoftBounce", "Transient", "DnsError"])
def test_a_soft_bounce_stops_nothing(delivery, anna, kind):
    # Mailbox full, a DNS hiccup: the next mail may well arrive.
    assert post(postmark_bounce(delivery, at(hours=1), kind=kind)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounced_at is None
    assert not Suppression.objects.exists()


def test_a_spam_complaint_puts_the_customer_on_do_not_contact_and_shows_in_the_ledger(
    delivery, anna
):
    assert post(postmark_complaint(delivery, at(hours=1))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.complained_at == at(hours=1)
    [suppression] = Suppression.objects.all()
    assert (suppression.reason, suppression.profile) == ("complaint", anna)
    [withdrawn] = withdrawals(anna)
    assert withdrawn.topic.key == "newsletter"
    assert withdrawn.source == Source.SYSTEM
    assert withdrawn.occurred_at == at(hours=1)
    assert state(anna) == "withdrawn"


def test_the_same_webhook_twice_changes_nothing_the_second_time(delivery, anna):
    for payload in (
        postmark_bounce(delivery, at(hours=1)),
        postmark_complaint(delivery, at(hours=1)),
    ):
        assert post(payload).status_code == 200
        before = (
            list(Suppression.objects.values()),
            list(ConsentEvent.objects.values()),
            list(Delivery.objects.values()),
        )
        assert post(payload).status_code == 200
        after = (
            list(Suppression.objects.values()),
            list(ConsentEvent.objects.values()),
            list(Delivery.objects.values()),
        )
        assert after == before
    assert Suppression.objects.count() == 2
    assert len(withdrawals(anna)) == 1


def test_a_replayed_bounce_does_not_undo_staff_lifting_it(delivery, anna):
    bounce = postmark_bounce(delivery, at(hours=1))
    post(bounce)
    suppression_lift(
        suppression=Suppression.objects.get(), now=at(hours=2), because="mailbox fixed"
    )
    assert post(bounce).status_code == 200
    assert Suppression.objects.filter(lifted_at=None).count() == 0


def test_an_unsubscribe_at_the_esp_withdraws_the_topic_and_a_late_replay_does_not_undo_a_new_yes(
    delivery, anna
):
    unsubscribe = postmark_unsubscribe(delivery, at(hours=1))
    assert post(unsubscribe).status_code == 200
    [withdrawn] = withdrawals(anna)
    assert withdrawn.source == Source.SYSTEM
    assert state(anna) == "withdrawn"
    assert not Suppression.objects.exists()  # one topic, not everything

    confirm(anna, when=at(hours=2))  # she subscribes again
    assert post(unsubscribe).status_code == 200  # the ESP retries the old event
    assert state(anna) == "confirmed"
    assert len(withdrawals(anna)) == 1


def test_a_webhook_for_a_mail_we_do_not_know_is_accepted_and_ignored(delivery, caplog):
    stranger = {
        **postmark_complaint(delivery, at(hours=1)),
        "MessageID": str(uuid.uuid4()),
        "Metadata": {},
        "Email": "onbekend@elders.example",
    }
    with caplog.at_level(logging.INFO, logger="campaigns.tracking"):
        response = post(stranger)
    assert response.status_code == 200
    assert not Suppression.objects.exists()
    assert ConsentEvent.objects.filter(action=Action.WITHDRAWN).count() == 0
    delivery.refresh_from_db()
    assert delivery.complained_at is None
    assert "ignored" in caplog.text
    assert "onbekend@elders.example" not in caplog.text and "@" not in caplog.text


def test_a_bounce_with_an_unknown_message_id_is_matched_by_the_address(delivery, anna):
    # E.g. a bounce report Postmark could not tie to its message.
    bounce = {**postmark_bounce(delivery, at(hours=1)), "MessageID": "", "Metadata": {}}
    assert post(bounce).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounced_at == at(hours=1)
    assert Suppression.objects.get().reason == "hard_bounce"


def test_an_event_is_matched_by_our_send_id_when_the_esp_id_is_not_ours(delivery, anna):
    # Two mails to Anna; the open is for the first, whose id the ESP reports differently.
    extra = newsletter("extra", at(hours=1))
    send = Send.objects.create(
        campaign=extra,
        profile=anna,
        occurrence="once",
        trigger_at=at(hours=1),
        due_at=at(hours=1),
        status="sent",
        created_at=at(hours=1),
    )
    latest = Delivery.objects.create(
        send=send,
        profile=anna,
        campaign=extra,
        category="commercial",
        sent_at=at(hours=1),
        message_id=str(uuid.uuid4()),
        subject="extra nieuws",
    )
    opened = {**postmark_open(delivery, at(hours=2)), "MessageID": "smtp-relay-id-17"}
    assert post(opened).status_code == 200
    delivery.refresh_from_db()
    latest.refresh_from_db()
    assert delivery.opened_at == at(hours=2)
    assert latest.opened_at is None


def test_a_bounce_for_an_address_the_customer_has_since_left_stays_with_that_address(
    delivery, anna
):
    profile_update(
        profile=anna, data={"email": "anna@nieuw.example"}, source="admin", now=at(minutes=30)
    )
    assert post(postmark_bounce(delivery, at(hours=1), Email="anna@example.com")).status_code == 200
    suppression = Suppression.objects.get()
    assert suppression.email_hash == address_hash("anna@example.com")
    assert suppression.profile is None

    mail.outbox.clear()
    newsletter("december", at(days=1))
    tick(at(days=1, minutes=1))
    assert [m.to for m in mail.outbox] == [["anna@nieuw.example"]]


def brevo(d: Delivery, event: str, when: dt.datetime, **extra) -> dict:
    return {
        "event": event,
        "email": d.profile.email,
        "id": 1234567,
        "date": when.strftime("%Y-%m-%d %H:%M:%S"),
        "ts": int(when.timestamp()),
        "ts_event": int(when.timestamp()),
        "ts_epoch": int(when.timestamp() * 1000),
        "message-id": d.message_id,
        "subject": d.subject,
        "X-Mailin-custom": json.dumps({"send_id": str(d.send_id), "campaign": "november"}),
        "sending_ip": "185.41.28.109",
        "tags": ["november"],
        **extra,
    }


def test_another_esp_brevo_works_the_same_way(delivery, anna):
    url = "/anymail/brevo/tracking/"
    for payload in (
        brevo(delivery, "soft_bounce", at(minutes=30), reason="mailbox full"),
        brevo(delivery, "unique_opened", at(hours=1)),
        brevo(delivery, "click", at(hours=2), link="https://shop.example.nl/aanbiedingen"),
        brevo(delivery, "spam", at(hours=2, minutes=30)),
    ):
        assert post(payload, url=url).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounced_at is None  # a full mailbox is no reason to stop for good
    assert (delivery.opened_at, delivery.clicked_at, delivery.complained_at) == (
        at(hours=1),
        at(hours=2),
        at(hours=2, minutes=30),
    )
    assert Suppression.objects.get().reason == "complaint"
    assert state(anna) == "withdrawn"
