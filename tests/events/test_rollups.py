"""What events keep on a profile, as a marketer would read it off the customer."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from consent.models import Action, Source, Topic
from consent.services import ledger_append
from events.ingest import events_ingest
from events.models import Activity
from events.rollups import lifecycle_nightly
from events.segment import message_parse
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
_ids = itertools.count()


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    def run(*raw_messages, now=NOW):
        messages = [
            message_parse({"messageId": f"msg-{next(_ids)}", **raw}, index=i, received_at=now)
            for i, raw in enumerate(raw_messages)
        ]
        with django_capture_on_commit_callbacks(execute=True):
            events_ingest(messages=messages, received_at=now)

    return run


def order(user="u1", *, at, total, order_id=None, products=None):
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": at.isoformat(),
        "properties": {
            "order_id": order_id or f"o-{next(_ids)}",
            "total": total,
            "products": products or [],
        },
    }


def days_ago(n):
    return NOW - dt.timedelta(days=n)


@pytest.fixture
def customer():
    return ProfileFactory(user_id="u1")


def fresh(profile) -> Profile:
    return Profile.objects.get(pk=profile.pk)


def test_orders_fill_the_value_figures_and_make_a_prospect_a_customer(ingest, customer):
    assert customer.lifecycle_stage == "prospect"
    ingest(order(at=days_ago(30), total="20.00"), order(at=days_ago(10), total="30.50"))
    profile = fresh(customer)
    assert (profile.order_count, profile.total_spent) == (2, Decimal("50.50"))
    assert (profile.first_order_at, profile.last_order_at) == (days_ago(30), days_ago(10))
    assert profile.lifecycle_stage == "customer"


def test_an_old_order_arriving_late_never_moves_last_order_backwards(ingest, customer):
    ingest(order(at=days_ago(2), total=10))
    ingest(order(at=days_ago(200), total=15))  # reported late, out of order
    profile = fresh(customer)
    assert profile.last_order_at == days_ago(2)
    assert profile.first_order_at == days_ago(200)
    assert profile.order_count == 2


def test_the_same_order_reported_twice_counts_once(ingest, customer):
    ingest(order(at=days_ago(3), total=40, order_id="A-1"))
    ingest(order(at=days_ago(3), total=40, order_id="A-1"))  # another message id, same order
    assert (fresh(customer).order_count, fresh(customer).total_spent) == (1, Decimal(40))


@pytest.mark.parametrize("odd", ["NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e999999", "veel"])
def test_an_order_total_that_is_no_amount_counts_as_nothing_and_never_stops_the_roll_up(
    ingest, customer, odd
):
    """A total sent as the string "NaN" (JSON's NaN itself is refused at the door) must
    not freeze the customer's figures: the order counts, its worth is 0, later orders add up."""
    ingest(order(at=days_ago(5), total=odd))
    huge_lines = [{"product_id": "x", "price": "99999999", "quantity": 99999999}]
    ingest(order(at=days_ago(4), total=None, products=huge_lines))
    ingest(order(at=days_ago(2), total="12.50"))
    profile = fresh(customer)
    assert (profile.order_count, profile.total_spent) == (3, Decimal("12.50"))


def test_the_open_basket_is_what_was_added_since_the_last_order(ingest, customer):
    def basket(event, sku, at):
        return {
            "type": "track",
            "userId": "u1",
            "event": event,
            "timestamp": at.isoformat(),
            "properties": {"product_id": sku, "name": sku.title(), "price": 10},
        }

    ingest(basket("Product Added", "old", days_ago(5)), order(at=days_ago(4), total=10))
    ingest(
        basket("Product Added", "jas", days_ago(2)),
        basket("Product Added", "muts", days_ago(1)),
        basket("Product Removed", "muts", NOW - dt.timedelta(hours=20)),
    )
    activity = Activity.objects.get(profile=customer)
    assert [item["product_id"] for item in activity.basket] == ["jas"]
    assert activity.last_basket_at == NOW - dt.timedelta(hours=20)
    ingest(order(at=NOW - dt.timedelta(hours=1), total=99))
    activity.refresh_from_db()
    assert (activity.basket, activity.last_basket_at) == ([], None)


def test_viewed_interests_only_with_permission_bought_ones_always(ingest, customer):
    def viewed(category, consent=None):
        message = {
            "type": "track",
            "userId": "u1",
            "event": "Product Viewed",
            "properties": {"category": category},
        }
        if consent is not None:
            message["context"] = {"consent": {"categoryPreferences": {"Personalization": consent}}}
        return message

    ingest(
        viewed("jassen"),
        viewed("jassen"),
        order(at=days_ago(1), total=5, products=[{"category": "sokken"}]),
    )
    interests = Activity.objects.get(profile=customer).interests
    assert interests["viewed"] == {}  # no permission to use browsing
    assert interests["bought"]["sokken"]["count"] == 1
    ingest(viewed("mutsen", consent=True))  # the site's cookie consent allowed this one
    assert set(Activity.objects.get(profile=customer).interests["viewed"]) == {"mutsen"}
    ledger_append(
        profile=customer,
        topic=Topic.objects.get(key="personalisation"),
        action=Action.CONFIRMED,
        now=NOW,
        source=Source.FORM,
    )
    ingest(viewed("jassen"))
    viewed_now = Activity.objects.get(profile=customer).interests["viewed"]
    assert viewed_now["jassen"]["count"] == 3 and viewed_now["mutsen"]["count"] == 1


def test_account_closed_churns_and_a_new_order_brings_back(ingest, customer):
    ingest(
        order(at=days_ago(20), total=10),
        {
            "type": "track",
            "userId": "u1",
            "event": "Account Closed",
            "timestamp": days_ago(5).isoformat(),
        },
    )
    assert fresh(customer).lifecycle_stage == "churned"
    ingest(order(at=days_ago(1), total=10))
    assert fresh(customer).lifecycle_stage == "customer"


def test_last_seen_is_the_latest_event(ingest, customer):
    ingest({"type": "page", "userId": "u1", "name": "Home", "timestamp": days_ago(3).isoformat()})
    ingest({"type": "page", "userId": "u1", "name": "Old", "timestamp": days_ago(30).isoformat()})
    assert fresh(customer).last_seen_at == days_ago(3)


def test_a_first_touch_utm_source_fills_an_empty_acquisition_source(ingest, customer):
    assert customer.acquisition_source == ""
    ingest(
        {
            "type": "page",
            "userId": "u1",
            "timestamp": days_ago(2).isoformat(),
            "context": {"campaign": {"source": "instagram", "medium": "social"}},
        }
    )
    ingest(
        {
            "type": "page",
            "userId": "u1",
            "timestamp": days_ago(9).isoformat(),
            "context": {"campaign": {"source": "google"}},
        }
    )
    assert Activity.objects.get(profile=customer).first_touch["source"] == "google"
    assert fresh(customer).acquisition_source == "instagram"  # filled once, then left alone


def test_at_risk_when_twice_the_usual_interval_has_passed(ingest, customer):
    ingest(
        order(at=days_ago(100), total=10),
        order(at=days_ago(90), total=10),
        order(at=days_ago(80), total=10),
    )
    activity = Activity.objects.get(profile=customer)
    assert activity.usual_order_interval_days == 10
    assert activity.at_risk  # 80 days > 2 × 10 days


def test_the_nightly_job_lapses_customers_and_scores_rfm(ingest):
    for n, (last_order_days, orders, spent) in enumerate(
        [(10, 1, 10), (50, 3, 300), (200, 6, 50), (400, 2, 900), (5, 9, 2000)]
    ):
        ProfileFactory(user_id=f"r{n}")
        ingest(
            *[
                order(f"r{n}", at=days_ago(last_order_days + k), total=spent / orders)
                for k in range(orders)
            ]
        )
    Profile.objects.filter(user_id="r2").update(lifecycle_stage="customer")  # 200 days ago
    result = lifecycle_nightly(now=NOW)
    assert result["lapsed"] >= 1
    assert Profile.objects.get(user_id="r2").lifecycle_stage == "lapsed"
    scores = {
        a.profile.user_id: (a.rfm_recency, a.rfm_frequency, a.rfm_monetary)
        for a in Activity.objects.select_related("profile")
    }
    assert scores["r4"] == (5, 5, 5)  # most recent, most orders, most spent
    assert scores["r3"][0] == 1  # longest ago
    assert all(1 <= s <= 5 for triple in scores.values() for s in triple)


def store_only(*raw_messages):
    """Store events without the roll-up request their commit would make (a test's
    transaction never commits): the tests below make those requests themselves."""
    messages = [
        message_parse({"messageId": f"msg-{next(_ids)}", **raw}, index=i, received_at=NOW)
        for i, raw in enumerate(raw_messages)
    ]
    events_ingest(messages=messages, received_at=NOW)


@pytest.fixture
def rollup_sets():
    """The roll-up queue's Redis client and keys (waiting, queued, taken, failed), empty
    before and after the test."""
    from events import rollup_queue

    client, keys = rollup_queue._redis(), rollup_queue.rollups_keys()
    client.delete(*keys)
    yield client, keys
    client.delete(*keys)


@pytest.mark.redis
def test_batches_about_the_same_customers_queue_one_drain_that_refreshes_each_once(
    customer, monkeypatch, rollup_sets
):
    from events import rollup_queue, tasks

    other = ProfileFactory(user_id="u2")
    store_only(order(at=days_ago(3), total=40))
    client, (waiting, queued, _taken, _failed) = rollup_sets
    drains = []
    monkeypatch.setattr(tasks.rollups_drain, "delay", lambda: drains.append(1))

    rollup_queue.rollups_request([customer.pk, other.pk])
    rollup_queue.rollups_request([customer.pk])
    rollup_queue.rollups_request([other.pk])
    assert len(drains) == 1  # one drain for three batches
    assert {int(i) for i in client.smembers(waiting)} == {customer.pk, other.pk}

    assert tasks.rollups_drain() == 2  # each customer once
    assert fresh(customer).order_count == 1 and fresh(customer).total_spent == Decimal("40")
    assert not client.exists(waiting) and not client.exists(queued)
    rollup_queue.rollups_request([customer.pk])  # after a drain started, the next batch queues one
    assert len(drains) == 2


@pytest.mark.redis
def test_one_customer_whose_refresh_fails_does_not_stop_the_others(
    customer, monkeypatch, rollup_sets
):
    from core.periodic import periodic_run
    from events import rollup_queue, rollups, tasks

    other = ProfileFactory(user_id="u2")
    store_only(order(at=days_ago(2), total=15), order("u2", at=days_ago(2), total=25))
    client, (waiting, _queued, taken, failed) = rollup_sets
    monkeypatch.setattr(tasks.rollups_drain, "delay", lambda: None)
    rollup_queue.rollups_request([customer.pk, other.pk])
    refresh = rollups.rollups_refresh_for

    def broken_for_one(*, profile_ids, now):
        if customer.pk in profile_ids:
            raise RuntimeError("numeric field overflow")
        return refresh(profile_ids=profile_ids, now=now)

    monkeypatch.setattr(rollups, "rollups_refresh_for", broken_for_one)
    assert tasks.rollups_drain() == 1
    assert fresh(other).order_count == 1
    assert {int(i) for i in client.smembers(failed)} == {customer.pk}
    assert not client.exists(waiting) and not client.exists(taken)

    monkeypatch.setattr(rollups, "rollups_refresh_for", refresh)  # the cause is fixed
    assert periodic_run("rollups", now=NOW) == 1
    assert fresh(customer).order_count == 1
    assert not client.exists(failed)


@pytest.mark.redis
def test_customers_a_dead_worker_had_taken_are_drained_by_the_periodic_job(customer, rollup_sets):
    from core.periodic import periodic_run
    from events import rollup_queue, tasks

    store_only(order(at=days_ago(2), total=15))
    client, (waiting, _queued, taken, failed) = rollup_sets
    client.sadd(waiting, customer.pk)
    # A drain takes them, and its worker is killed before the refresh commits.
    client.register_script(rollup_queue._TAKE)(
        keys=[waiting, taken], args=[rollup_queue.DRAIN_CHUNK]
    )
    assert tasks.rollups_drain() == 0  # the next batch's drain finds nothing waiting

    assert periodic_run("rollups", now=NOW) == 1
    assert fresh(customer).order_count == 1
    assert not client.exists(taken)


@pytest.mark.redis
def test_the_periodic_job_drains_customers_whose_drain_task_was_lost(
    customer, monkeypatch, rollup_sets
):
    from core.periodic import periodic_run
    from events import rollup_queue, tasks

    store_only(order(at=days_ago(2), total=15))
    client, (waiting, _queued, taken, failed) = rollup_sets
    monkeypatch.setattr(tasks.rollups_drain, "delay", lambda: None)  # the task never runs
    rollup_queue.rollups_request([customer.pk])
    assert fresh(customer).order_count == 0

    assert periodic_run("rollups", now=NOW) == 1
    assert fresh(customer).order_count == 1
    assert not client.exists(waiting)
