"""List hygiene: a customer who reacts to none of the last commercial mails is asked once
whether they still want them, and without an answer stops getting them — reversibly."""

import pytest
from django.core import mail

from campaigns.models import Campaign, Delivery, Send, SunsetPolicy
from consent.links import link_token
from consent.models import ContactPreference, Topic
from consent.selectors import send_permission

from .conftest import at, confirm, only_campaigns, tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiet_reader(anna):
    """Anna got three commercial mails in the last months and opened none."""
    confirm(anna, when=at(days=-200))
    newsletter = Campaign.objects.get(key="cross-sell")
    for n, days in enumerate((-90, -60, -30)):
        send = Send.objects.create(
            campaign=newsletter,
            profile=anna,
            occurrence=f"past-{n}",
            trigger_at=at(days=days),
            due_at=at(days=days),
            status="sent",
            created_at=at(days=days),
        )
        Delivery.objects.create(
            send=send,
            profile=anna,
            campaign=newsletter,
            category="commercial",
            sent_at=at(days=days),
            subject="Nieuws",
        )
    SunsetPolicy.objects.update(active=True, mails=3, days=180, grace_days=14)
    only_campaigns("sunset")
    return anna


def commercial_allowed(profile, when):
    return send_permission(profile=profile, topic=Topic.objects.get(key="newsletter"), now=when)


def test_the_rule_is_off_by_default(anna):
    assert SunsetPolicy.objects.get().active is False
    only_campaigns("sunset")
    tick(at())
    assert mail.outbox == []


def test_a_silent_customer_is_asked_once_then_commercial_mail_stops(quiet_reader):
    tick(at())
    [question] = mail.outbox
    assert question.subject == "Wilt u onze mail nog ontvangen?"
    assert "?keep=1#sunset" in question.body
    tick(at(days=1))
    assert len(mail.outbox) == 1  # asked once
    tick(at(days=13))
    assert commercial_allowed(quiet_reader, at(days=13)).allowed
    tick(at(days=15))
    assert commercial_allowed(quiet_reader, at(days=15)).reason == "sunset"
    assert quiet_reader.changes.filter(note="sunset rule").exists()


def test_opening_any_mail_after_the_question_is_an_answer(quiet_reader):
    tick(at())
    Delivery.objects.filter(campaign__key="sunset").update(opened_at=at(days=2))
    tick(at(days=15))
    assert commercial_allowed(quiet_reader, at(days=15)).allowed


def test_the_customer_keeps_or_restarts_their_mail_from_the_preference_page(quiet_reader, client):
    tick(at())
    tick(at(days=15))
    page = f"/preferences/{link_token(quiet_reader, 'preferences')}/"
    html = client.get(page).content.decode()
    assert "Wilt u onze mail nog ontvangen?" in html
    response = client.post(page, {"section": "sunset"}, follow=True)
    assert "u blijft onze mail ontvangen" in response.content.decode().lower()
    preference = ContactPreference.objects.get(profile=quiet_reader)
    assert preference.sunset_at is None
    assert commercial_allowed(quiet_reader, at(days=16)).allowed
    # Having answered, they are not asked again within the window.
    tick(at(days=20))
    assert len(mail.outbox) == 1


def test_a_customer_who_answers_while_the_rule_runs_keeps_their_mail(quiet_reader, monkeypatch):
    """The rule picks the silent customers, and the customer presses "yes, keep sending"
    before it writes: their answer stands (the rule re-reads under the customer's lock)."""
    from campaigns import sunset
    from consent.services import sunset_lift

    tick(at())
    apply = sunset.sunset_apply

    def answered_meanwhile(**kwargs):
        sunset_lift(profile=quiet_reader, now=at(days=15))
        return apply(**kwargs)

    monkeypatch.setattr(sunset, "sunset_apply", answered_meanwhile)
    tick(at(days=15))
    assert commercial_allowed(quiet_reader, at(days=15)).allowed
    assert not quiet_reader.changes.filter(note="sunset rule").exists()


def test_a_failure_halfway_stops_no_one_without_their_history(quiet_reader, monkeypatch):
    from profiles.models import ProfileChange

    tick(at())

    def history_fails(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ProfileChange.objects, "bulk_create", history_fails)
    with pytest.raises(RuntimeError):
        tick(at(days=15))
    assert commercial_allowed(quiet_reader, at(days=15)).allowed  # not stopped, unrecorded
