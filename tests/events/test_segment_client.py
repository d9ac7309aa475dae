"""The real segment-analytics-python library, pointed at Klantbeeld, gzip on and off."""

import datetime as dt

import pytest
from segment.analytics.client import Client

from core.apikeys import api_key_create
from events.models import Activity, Event
from profiles.models import Profile

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_the_segment_library_feeds_klantbeeld(live_server, compress):
    key = api_key_create(name="webshop", kind="write")[1]
    errors: list = []
    analytics = Client(
        write_key=key,
        host=f"{live_server.url}/api",  # the library posts to <host>/v1/batch
        gzip=compress,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
    )
    analytics.track(
        anonymous_id="visitor-1",
        event="Product Added",
        properties={"product_id": "sok-1", "name": "Wollen sok", "price": 12.5},
    )
    analytics.identify(
        "shop-1",
        {"email": "fleur@example.com", "firstName": "Fleur", "favouriteColour": "groen"},
        anonymous_id="visitor-1",
    )
    analytics.page(
        "shop-1",
        category="Shop",
        name="Sokken",
        properties={"url": "https://shop.example.nl/sokken"},
    )
    analytics.track(
        "shop-1",
        "Order Completed",
        {
            "order_id": "1001",
            "total": 37.5,
            "products": [{"product_id": "sok-1", "category": "sokken"}],
        },
        timestamp=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
    )
    analytics.flush()
    assert errors == []

    profile = Profile.objects.get(user_id="shop-1")
    assert (profile.email, profile.first_name, profile.custom_attributes) == (
        "fleur@example.com",
        "Fleur",
        {"favouriteColour": "groen"},
    )
    assert Event.objects.filter(profile=profile).count() == 4  # the anonymous basket counts
    assert Event.objects.get(name="Product Added").anonymous_id == "visitor-1"
    assert (profile.order_count, str(profile.total_spent), profile.lifecycle_stage) == (
        1,
        "37.50",
        "customer",
    )
    assert abs(
        profile.last_order_at - dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    ) < dt.timedelta(seconds=5)
    assert Activity.objects.get(profile=profile).interests["bought"]["sokken"]["count"] == 1


def test_the_library_sees_a_refusal(live_server):
    errors: list = []
    analytics = Client(
        write_key="kb_write_wrong",
        host=f"{live_server.url}/api",
        sync_mode=True,
        on_error=lambda e, b: errors.append(e),
        max_retries=0,
    )
    try:
        analytics.track("shop-1", "Product Viewed")
    except Exception as exc:  # noqa: BLE001 - sync mode may raise instead of calling back
        errors.append(exc)
    assert len(errors) == 1
    assert errors[0].status == 401  # APIError, read from our Segment-style answer
    assert errors[0].code == "unauthorized"
    assert not Event.objects.exists()
