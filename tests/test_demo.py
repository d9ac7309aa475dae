"""The demo data `make run` loads: realistic, varied, and loaded once."""

import pytest
from django.core.management import call_command

from consent.models import ConsentState, Suppression
from events.models import Activity, Event
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def test_demo_data_is_varied_and_loaded_only_once():
    call_command("load_demo", count=120)
    profiles = Profile.objects.filter(user_id__startswith="demo-")
    assert profiles.count() == 120
    assert {"nl", "en"} <= set(profiles.values_list("language", flat=True))
    assert (
        profiles.exclude(country="NL").exists()
        and profiles.exclude(timezone="Europe/Amsterdam").exists()
    )
    assert profiles.exclude(birth_date=None).count() == 120
    statuses = set(ConsentState.objects.values_list("status", flat=True))
    assert {"confirmed", "pending", "withdrawn"} <= statuses
    assert ConsentState.objects.filter(basis="soft_opt_in").exists()
    # Some allowed personal recommendations on the same double opt-in as the newsletter.
    assert ConsentState.objects.filter(topic__key="personalisation", status="confirmed").exists()
    assert Suppression.objects.filter(reason="hard_bounce").exists()
    # Behaviour over the past year, rolled up onto the customers.
    names = set(Event.objects.values_list("name", flat=True))
    assert {"Product Viewed", "Product Added", "Order Completed", "Home"} <= names
    stages = set(profiles.values_list("lifecycle_stage", flat=True))
    assert {"prospect", "customer"} <= stages
    buyers = profiles.filter(order_count__gt=0)
    assert buyers.count() > 20
    assert all(p.total_spent > 0 and p.last_order_at for p in buyers)
    assert Activity.objects.exclude(basket=[]).exists()
    assert Activity.objects.exclude(interests__viewed={}).exists()

    from campaigns.models import Delivery, Send

    assert Delivery.objects.exclude(opened_at=None).exists()
    assert Send.objects.filter(status="skipped").exclude(reason="").exists()
    # A marketer's own programme besides the defaults, within the good practice of 3–8,
    # each with a template per language that renders for a customer.
    from campaigns.models import Campaign
    from campaigns.rendering import render, template_for
    from campaigns.selectors import live_extra_count

    assert 3 <= live_extra_count() <= 8
    customer = profiles.exclude(first_name="").first()
    for campaign in Campaign.objects.filter(key__startswith="demo-"):
        assert {t.language for t in campaign.templates.all()} == {"nl", "en"}
        mail = render(template_for(campaign, customer.language), customer, campaign)
        assert customer.first_name in mail.html and mail.subject

    def counts():
        return (
            Profile.objects.count(),
            ConsentState.objects.count(),
            Suppression.objects.count(),
            Event.objects.count(),
            Send.objects.count(),
            Campaign.objects.count(),
        )

    before = counts()
    call_command("load_demo", count=120)
    assert counts() == before
