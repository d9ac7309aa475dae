"""The other kinds of rule a marketer can build: a newsletter to a selection at a set
time, a milestone, a first event, a yearly date on the profile, re-entry limits."""

import datetime as dt

import pytest
from django.core import mail

from campaigns.models import Campaign, Send, Template
from consent.models import Topic
from profiles.models import Selection
from tests.factories import ProfileFactory

from .conftest import at, confirm, only_campaigns, tick, track

pytestmark = pytest.mark.django_db


def campaign(key: str, **fields) -> Campaign:
    defaults = {
        "name": key,
        "topic": Topic.objects.get(key="newsletter"),
        "status": "live",
        "late_cutoff": dt.timedelta(days=2),
    }
    made = Campaign.objects.create(key=key, **{**defaults, **fields})
    Template.objects.create(
        campaign=made,
        language="nl",
        subject=f"{key} voor {{{{ customer.first_name }}}}",
        html="<p>{{ customer.first_name }}</p>",
        text="{{ customer.first_name }}",
    )
    return made


def test_a_newsletter_goes_to_its_selection_at_the_set_time_once():
    only_campaigns()
    utrecht = Selection.objects.create(
        name="Utrecht",
        definition={
            "kind": "field",
            "params": {"field": "city", "operator": "eq", "value": "Utrecht"},
        },
    )
    anna = ProfileFactory(first_name="Anna", city="Utrecht")
    bram = ProfileFactory(first_name="Bram", city="Utrecht")
    ProfileFactory(first_name="Cor", city="Zwolle")
    for person in (anna, bram):
        confirm(person, when=at(days=-5))
    campaign("december", trigger="scheduled", scheduled_at=at(days=1), selection=utrecht)
    tick(at(hours=23))
    assert mail.outbox == []
    tick(at(days=1, minutes=1))
    assert sorted(m.subject for m in mail.outbox) == ["december voor Anna", "december voor Bram"]
    tick(at(days=1, hours=2))
    assert len(mail.outbox) == 2


def test_the_selection_is_checked_again_at_send_time(anna):
    only_campaigns()
    loyal = Selection.objects.create(
        name="3+",
        definition={
            "kind": "field",
            "params": {"field": "order_count", "operator": "gte", "value": 3},
        },
    )
    confirm(anna, when=at(days=-5))
    made = campaign("loyal", trigger="event", trigger_event="Product Viewed", selection=loyal)
    track(anna, "Product Viewed", at())
    tick(at(minutes=1))
    assert mail.outbox == []
    send = Send.objects.get(campaign=made)
    assert (send.status, send.reason) == ("skipped", "not_selected")


def test_a_milestone_the_third_order(anna):
    only_campaigns()
    confirm(anna, when=at(days=-5))
    campaign("third", trigger="milestone", trigger_number=3, reentry="once")
    for n in range(2):
        track(anna, "Order Completed", at(hours=n), order_id=str(n), total=10)
        tick(at(hours=n, minutes=1))
    assert mail.outbox == []
    track(anna, "Order Completed", at(hours=3), order_id="3", total=10)
    tick(at(hours=3, minutes=1))
    assert [m.subject for m in mail.outbox] == ["third voor Anna"]


def test_a_milestone_without_a_number_is_the_tenth_order_and_filling_it_in_sends_no_second_mail(
    anna,
):
    """A milestone whose number was left empty means the 10th order. When the marketer
    then fills in 10 (the same milestone), a customer who already got that mail does not
    get it again: the occurrence is keyed on the milestone it really is."""
    only_campaigns()
    confirm(anna, when=at(days=-5))
    tenth = campaign("tenth", trigger="milestone", trigger_number=None)
    for n in range(10):
        track(anna, "Order Completed", at(hours=n), order_id=str(n), total=10)
    tick(at(hours=10))
    assert [m.subject for m in mail.outbox] == ["tenth voor Anna"]
    tenth.trigger_number = 10
    tenth.save(update_fields=["trigger_number"])
    tick(at(hours=11))
    assert len(mail.outbox) == 1
    assert Send.objects.filter(campaign=tenth).count() == 1


def test_the_first_time_only_and_at_most_once_per_90_days(anna):
    only_campaigns()
    confirm(anna, when=at(days=-5))
    campaign("first-view", trigger="first_event", trigger_event="Product Viewed")
    campaign(
        "browse",
        trigger="event",
        trigger_event="Product Added",
        reentry="days",
        reentry_days=90,
        priority=10,
    )
    track(anna, "Product Viewed", at())
    track(anna, "Product Viewed", at(days=2))
    for day in range(0, 4):
        track(anna, "Product Added", at(days=day, hours=1))
        tick(at(days=day, hours=1, minutes=1))
    subjects = [m.subject for m in mail.outbox]
    assert subjects.count("first-view voor Anna") == 1
    assert subjects.count("browse voor Anna") == 1


def test_one_year_a_customer_at_the_local_hour(anna):
    only_campaigns()
    confirm(anna, when=at(days=-400))
    track(anna, "Order Completed", at(days=-365), order_id="1", total=10)
    campaign(
        "anniversary",
        trigger="yearly",
        trigger_field="first_order_at",
        send_at_local_time=dt.time(10, 0),
        late_cutoff=dt.timedelta(hours=10),
    )
    tick(at(minutes=-1))
    assert mail.outbox == []
    tick(at(minutes=1))
    assert [m.subject for m in mail.outbox] == ["anniversary voor Anna"]
