"""The lifecycle mailings with frozen time: not before their moment, exactly once at it,
not after an exit event, not without permission, not past the cut-off, in the customer's
own time zone; skips and deferrals carry their reason."""

import datetime as dt
import zoneinfo

import pytest
from django.core import mail

from campaigns.models import Send
from tests.factories import ProfileFactory

from .conftest import (
    at,
    confirm,
    only_campaigns,
    product,
    send_of,
    sent_to,
    tick,
    track,
)

pytestmark = pytest.mark.django_db


def test_welcome_goes_at_once_after_the_double_opt_in_and_only_once(anna):
    only_campaigns("welcome")
    tick(at(minutes=-1))
    confirm(anna, when=at())
    tick(at(minutes=1))
    [message] = sent_to("anna@example.com")
    assert message.subject == "Welkom, Anna!"
    assert "Dank voor uw aanmelding" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    html = message.alternatives[0][0]
    assert "Afmelden" in html and "Klantbeeld demo shop" in html
    assert 'style="' in html  # CSS inlined for mail clients
    for minutes in (2, 30, 600):
        tick(at(minutes=minutes))
    assert len(mail.outbox) == 1
    assert send_of(anna, "welcome").status == "sent"


def test_no_welcome_without_permission_and_the_reason_is_kept(anna):
    only_campaigns("welcome")
    confirm(anna, when=at())
    from consent.models import Source, Topic
    from consent.services import consent_withdraw

    consent_withdraw(
        profile=anna, topic=Topic.objects.get(key="newsletter"), now=at(), source=Source.ONE_CLICK
    )
    tick(at(minutes=1))
    assert mail.outbox == []
    send = send_of(anna, "welcome")
    assert (send.status, send.reason) == ("skipped", "withdrawn")


def test_abandoned_basket_24_hours_after_the_last_change_with_the_products(anna):
    only_campaigns("abandoned-basket")
    confirm(anna)
    track(anna, "Product Added", at(), **product())
    track(anna, "Product Added", at(hours=2), **product("TA-302", "Canvas shopper", 34.95))
    tick(at(hours=25))  # 24 h after the first change, but not after the last
    assert mail.outbox == []
    tick(at(hours=26))
    [message] = sent_to("anna@example.com")
    assert "winkelmand" in message.subject
    html = message.alternatives[0][0]
    for text in ("Leren sneaker", "€ 89.95", "Canvas shopper", "€ 34.95", "/p/SH-101"):
        assert text in html
    assert "https://shop.example.nl/img/SH-101.jpg" in html
    tick(at(hours=27))
    assert len(mail.outbox) == 1


def test_no_basket_mail_after_an_order(anna):
    only_campaigns("abandoned-basket")
    confirm(anna)
    track(anna, "Product Added", at(), **product())
    track(anna, "Order Completed", at(hours=3), order_id="1", total=89.95, products=[product()])
    tick(at(hours=24, minutes=5))
    assert mail.outbox == []
    assert not Send.objects.exists()


def test_an_order_while_the_mail_waits_for_the_morning_cancels_it(anna):
    only_campaigns("abandoned-basket")
    confirm(anna)
    track(anna, "Product Added", at(hours=12), **product())  # 22:00 Amsterdam
    tick(at(days=1, hours=12, minutes=1))  # due at 22:00: outside the send window
    send = send_of(anna, "abandoned-basket")
    assert (send.status, send.reason, send.deferrals) == ("scheduled", "quiet_hours", 1)
    assert send.due_at == dt.datetime(
        2026, 11, 25, 8, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")
    )
    track(anna, "Order Completed", at(days=1, hours=21), order_id="2", total=89.95)
    tick(at(days=1, hours=22, minutes=1))  # 08:01 the next morning
    assert mail.outbox == []
    send.refresh_from_db()
    assert (send.status, send.reason) == ("skipped", "exited")


def test_a_backfill_of_old_baskets_sends_nothing(anna):
    only_campaigns("abandoned-basket")
    confirm(anna)
    track(anna, "Product Added", at(days=-10), **product())
    tick(at())
    assert mail.outbox == []


def test_cross_sell_30_days_after_an_order_not_before(anna):
    only_campaigns("cross-sell")
    confirm(anna)
    track(anna, "Order Completed", at(), order_id="3", total=89.95, products=[product()])
    tick(at(days=29, hours=23))
    assert mail.outbox == []
    tick(at(days=30, minutes=1))
    assert len(sent_to("anna@example.com")) == 1
    tick(at(days=31))
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("zone", "local_hour_utc_offset"),
    [("Europe/Amsterdam", 1), ("America/New_York", -5), ("Asia/Tokyo", 9)],
)
def test_birthday_at_nine_in_the_customers_own_zone(zone, local_hour_utc_offset):
    only_campaigns("birthday")
    person = ProfileFactory(
        email="jarig@example.com",
        first_name="Joost",
        timezone=zone,
        birth_date=dt.date(1990, 12, 3),
    )
    nine_local_in_utc = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC) - dt.timedelta(
        hours=local_hour_utc_offset
    )
    tick(nine_local_in_utc - dt.timedelta(minutes=1))
    assert mail.outbox == []
    tick(nine_local_in_utc + dt.timedelta(minutes=1))
    [message] = sent_to("jarig@example.com")
    assert message.subject == "Gefeliciteerd, Joost!"
    # Service mail: no permission asked, the unsubscribe headers still there.
    assert "List-Unsubscribe" in message.extra_headers
    tick(nine_local_in_utc + dt.timedelta(hours=5))
    assert len(mail.outbox) == 1
    assert send_of(person, "birthday").occurrence == "year:2026"


def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years():
    only_campaigns("birthday")
    ProfileFactory(email="schrikkel@example.com", birth_date=dt.date(2000, 2, 29))
    ams = zoneinfo.ZoneInfo("Europe/Amsterdam")
    tick(dt.datetime(2027, 2, 28, 9, 30, tzinfo=ams))
    assert len(sent_to("schrikkel@example.com")) == 1
    tick(dt.datetime(2027, 3, 1, 9, 30, tzinfo=ams))
    assert len(mail.outbox) == 1


def test_a_birthday_missed_all_day_is_not_sent_the_next_day():
    only_campaigns("birthday")
    ProfileFactory(email="laat@example.com", birth_date=dt.date(1980, 12, 3))
    ams = zoneinfo.ZoneInfo("Europe/Amsterdam")
    tick(dt.datetime(2026, 12, 4, 9, 30, tzinfo=ams))
    assert mail.outbox == []


def test_winback_after_180_days_without_an_order_once_per_lapse(anna):
    only_campaigns("winback")
    confirm(anna, when=at(days=-400))
    track(anna, "Order Completed", at(days=-181), order_id="4", total=50)
    tick(at(days=-1, minutes=1))  # 180 days after the order
    [message] = sent_to("anna@example.com")
    assert message.subject == "We missen u, Anna"
    tick(at())
    assert len(mail.outbox) == 1
    # Back as a customer, then lapsed again: a new lapse, a new mail.
    track(anna, "Order Completed", at(), order_id="5", total=50)
    tick(at(days=180, hours=1, minutes=1))  # (summer time: 180 days later is 11:00)
    assert len(mail.outbox) == 2


def test_frequency_control_lets_the_higher_priority_win_and_defers_the_other(anna):
    only_campaigns("welcome", "cross-sell")
    track(anna, "Order Completed", at(days=-30), order_id="6", total=50, products=[product()])
    confirm(anna, when=at())
    tick(at(minutes=1))
    [message] = sent_to("anna@example.com")
    assert message.subject == "Welkom, Anna!"  # priority 90 beats cross-sell's 40
    cross_sell = send_of(anna, "cross-sell")
    assert (cross_sell.status, cross_sell.reason) == ("scheduled", "capped")
    assert cross_sell.due_at == at(days=1, minutes=1)
    tick(at(days=1, minutes=2))
    assert len(mail.outbox) == 2
    cross_sell.refresh_from_db()
    assert cross_sell.status == "sent"


def test_a_capped_send_past_its_cut_off_is_skipped_with_the_reason(anna):
    only_campaigns("welcome", "abandoned-basket")
    from campaigns.models import FrequencyPolicy

    FrequencyPolicy.objects.update(max_per_day=1, max_per_week=1)
    confirm(anna, when=at())
    tick(at(minutes=1))  # the welcome uses this week's one slot
    track(anna, "Product Added", at(hours=1), **product())
    tick(at(hours=25, minutes=1))
    basket = send_of(anna, "abandoned-basket")
    # The slot frees a week later, far past the basket mail's 48 h cut-off.
    assert (basket.status, basket.reason) == ("skipped", "capped")
    assert len(mail.outbox) == 1


def test_the_customers_own_stricter_choice_caps_their_mail(anna):
    only_campaigns("welcome", "cross-sell")
    from consent.services import preferences_update

    preferences_update(
        profile=anna,
        max_frequency="monthly",
        paused_until=None,
        no_service_mail=False,
    )
    track(anna, "Order Completed", at(days=-30), order_id="7", total=50, products=[product()])
    confirm(anna, when=at(days=-2))
    tick(at(days=-2, minutes=1))
    tick(at(days=5))
    assert len(mail.outbox) == 1
    assert send_of(anna, "cross-sell").reason == "capped"


def test_a_paused_campaign_sends_nothing_and_a_live_one_resumes(anna):
    only_campaigns("welcome")
    from campaigns.models import Campaign

    Campaign.objects.filter(key="welcome").update(status="paused")
    confirm(anna, when=at())
    tick(at(minutes=1))
    assert mail.outbox == []
    Campaign.objects.filter(key="welcome").update(status="live")
    tick(at(minutes=2))
    assert len(mail.outbox) == 1


def test_the_mail_is_in_the_customers_language():
    only_campaigns("welcome")
    tourist = ProfileFactory(email="tom@example.com", first_name="Tom", language="en")
    confirm(tourist, when=at())
    tick(at(minutes=1))
    [message] = sent_to("tom@example.com")
    assert message.subject == "Welcome, Tom!"
    assert "Unsubscribe" in message.alternatives[0][0]


def test_an_erased_customer_gets_no_sends_from_what_they_did_before():
    """Erasure keeps the bare events and the ledger (for the shop's figures and the
    proof of consent), still linked to the tombstone: no trigger may turn them into
    mail for it."""
    from campaigns.models import Campaign
    from profiles.services import profile_erase

    Campaign.objects.create(
        key="first-view",
        name="Eerste bezoek",
        topic=Campaign.objects.get(key="welcome").topic,
        status="live",
        trigger="first_event",
        trigger_event="Product Viewed",
    )
    anna, bram = (ProfileFactory(first_name=name) for name in ("Anna", "Bram"))
    for person in (anna, bram):
        track(person, "Order Completed", at(days=-30), order_id=f"O-{person.pk}", total=50)
        track(person, "Product Viewed", at(hours=-2), **product())
        confirm(person, when=at(minutes=-10))
    profile_erase(profile=anna, now=at(minutes=-5), source="admin")

    tick(at())

    made = set(Send.objects.filter(profile=bram).values_list("campaign__key", flat=True))
    assert {"welcome", "cross-sell", "first-view"} <= made  # event, consent, first event
    assert not Send.objects.filter(profile=anna).exists()
