"""The marketer's view of behaviour: the event browser and a customer's timeline."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from consent.models import Action, Source, Topic
from consent.services import ledger_append
from events.models import Activity, Event
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

_ids = itertools.count()


def event(profile, event_name, hours_ago, *, type="track", anonymous_id="", **properties):
    at = timezone.now() - dt.timedelta(hours=hours_ago)
    return Event.objects.create(
        message_id=f"m-{next(_ids)}",
        type=type,
        name=event_name,
        profile=profile,
        user_id=profile.user_id if profile else "",
        anonymous_id=anonymous_id,
        timestamp=at,
        received_at=at,
        properties=properties,
    )


@pytest.fixture
def anna():
    return ProfileFactory(user_id="anna")


def test_the_marketer_browses_and_filters_events(marketer_client, anna):
    bram = ProfileFactory(user_id="bram")
    event(anna, "Order Completed", 2, order_id="A-1001", total=59.95, currency="EUR")
    event(anna, "Product Viewed", 24 * 10, category="schoenen")
    event(bram, "Product Viewed", 3, category="tassen")
    event(None, "Product Added", 1, anonymous_id="visitor-7", name="Sneaker")

    page = marketer_client.get("/admin/events/event/").content.decode()
    for text in ("Order Completed", "order_id: A-1001, total: 59.95", "visitor-7", "bram"):
        assert text in page

    def listed(query: str) -> list[str]:
        response = marketer_client.get(f"/admin/events/event/?{query}")
        assert response.status_code == 200
        return sorted(e.message_id for e in response.context["cl"].result_list)

    assert listed("name=Product+Viewed") == ["m-1", "m-2"]
    assert listed("name=Product+Viewed&since=7") == ["m-2"]
    assert listed("known=no") == ["m-3"]
    assert listed("q=anna") == ["m-0", "m-1"]
    assert listed(f"profile__id__exact={anna.pk}") == ["m-0", "m-1"]


def test_an_event_is_shown_whole_and_cannot_be_edited(marketer_client, anna):
    order = event(anna, "Order Completed", 1, order_id="A-1002", products=[{"sku": "S-1"}])
    response = marketer_client.get(f"/admin/events/event/{order.pk}/change/")
    assert response.status_code == 200
    assert "S-1" in response.content.decode()
    marketer_client.post(f"/admin/events/event/{order.pk}/change/", {"name": "Hacked"})
    order.refresh_from_db()
    assert order.name == "Order Completed"
    assert marketer_client.get(f"/admin/events/event/{order.pk}/delete/").status_code == 403


def test_paging_does_not_count_millions(marketer_client, anna, monkeypatch):
    import events.admin

    monkeypatch.setattr(events.admin, "COUNT_CAP", 3)
    for hours in range(6):
        event(anna, "Product Viewed", hours)
    response = marketer_client.get("/admin/events/event/?name=Product+Viewed")
    # Counted up to the cap and one more, not all six.
    assert response.context["cl"].result_count == 4


def test_the_customer_page_shows_a_timeline_newest_first_and_their_behaviour(marketer_client, anna):
    event(anna, "Product Viewed", 48, category="schoenen", name="Loafer")
    ledger_append(
        profile=anna,
        topic=Topic.objects.get(key="newsletter"),
        action=Action.CONFIRMED,
        now=timezone.now() - dt.timedelta(hours=24),
        source=Source.FORM,
    )
    event(anna, "Order Completed", 1, order_id="A-1003", total=89)
    Activity.objects.create(
        profile=anna,
        basket=[{"product_id": "p1", "name": "Loafer", "price": 89}],
        interests={"viewed": {"schoenen": {"count": 3, "last": "2026-11-20"}}},
    )
    page = marketer_client.get(f"/admin/profiles/profile/{anna.pk}/change/").content.decode()
    timeline = page[page.index('class="timeline"') :]
    order, consent, viewed = (
        timeline.index("Order Completed"),
        timeline.index("Nieuwsbrief en aanbiedingen: bevestigd (double opt-in)"),
        timeline.index("Product Viewed"),
    )
    assert order < consent < viewed
    assert "order_id: A-1003, total: 89" in timeline
    assert "Loafer (89)" in page and "schoenen (3×)" in page
    assert f"/admin/events/event/?profile__id__exact={anna.pk}" in page
