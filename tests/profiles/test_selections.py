"""Selections: a marketer's conditions, one query, the right customers."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from consent.models import Action, Source, Topic
from consent.services import ledger_append, suppression_add
from events.models import Activity, Event
from profiles.models import Selection
from profiles.selections import selection_profiles
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def cond(kind, negate=False, **params):
    return {"kind": kind, "negate": negate, "params": params}


def group(op, *children, negate=False):
    return {"op": op, "negate": negate, "children": list(children)}


def selected(definition) -> set[str]:
    return set(selection_profiles(definition, now=NOW).values_list("user_id", flat=True))


def event(profile, name, days_ago, **properties):
    at = NOW - dt.timedelta(days=days_ago)
    return Event.objects.create(
        message_id=f"{profile.user_id}-{name}-{days_ago}-{len(properties)}-{Event.objects.count()}",
        type="track",
        name=name,
        profile=profile,
        user_id=profile.user_id,
        timestamp=at,
        received_at=at,
        properties=properties,
    )


@pytest.fixture
def people():
    anna = ProfileFactory(
        user_id="anna",
        city="Utrecht",
        order_count=4,
        total_spent=250,
        lifecycle_stage="customer",
        custom_attributes={"tier": "gold", "shoe_size": 39},
    )
    bram = ProfileFactory(
        user_id="bram",
        city="Delft",
        order_count=1,
        total_spent=20,
        lifecycle_stage="customer",
        custom_attributes={"tier": "silver"},
    )
    cato = ProfileFactory(user_id="cato", city="utrecht", order_count=0, lifecycle_stage="prospect")
    return anna, bram, cato


def test_customer_data_with_and_or_and_not(people):
    in_utrecht = cond("field", field="city", operator="eq", value="Utrecht")
    big_spender = cond("field", field="total_spent", operator="gte", value="100")
    assert selected(in_utrecht) == {"anna", "cato"}  # case does not matter
    assert selected(group("and", in_utrecht, big_spender)) == {"anna"}
    assert selected(
        group("or", big_spender, cond("field", field="city", operator="eq", value="Delft"))
    ) == {"anna", "bram"}
    assert selected(group("and", in_utrecht, big_spender, negate=True)) == {"bram", "cato"}
    assert selected(cond("field", negate=True, field="city", operator="eq", value="Utrecht")) == {
        "bram"
    }
    assert selected(group("and")) == {"anna", "bram", "cato"}  # no conditions: everyone


def test_three_or_more_orders_and_custom_attributes(people):
    assert selected(cond("field", field="order_count", operator="gte", value="3")) == {"anna"}
    assert selected(cond("attribute", key="tier", operator="eq", value="gold")) == {"anna"}
    assert selected(cond("attribute", key="tier", operator="is_set")) == {"anna", "bram"}
    assert selected(cond("attribute", key="shoe_size", operator="lt", value="40")) == {"anna"}


def test_behaviour_in_the_last_days(people):
    anna, bram, cato = people
    event(anna, "Product Viewed", 3, category="jassen")
    event(bram, "Product Viewed", 45, category="jassen")
    event(cato, "Product Viewed", 3, category="sokken")
    viewed_jackets_lately = cond(
        "event", event="Product Viewed", days=30, property="category", value="jassen"
    )
    assert selected(viewed_jackets_lately) == {"anna"}
    event(anna, "Order Completed", 200)
    event(bram, "Order Completed", 10)
    no_order_for_180_days = cond("event", negate=True, event="Order Completed", days=180)
    assert selected(
        group(
            "and",
            no_order_for_180_days,
            cond("field", field="order_count", operator="gte", value="1"),
        )
    ) == {"anna"}


def test_at_least_n_times(people):
    anna, bram, _ = people
    for days in (1, 2, 3):
        event(anna, "Product Viewed", days)
    event(bram, "Product Viewed", 1)
    assert selected(cond("event", event="Product Viewed", times=3)) == {"anna"}


def test_consent_and_contactability(people):
    anna, bram, cato = people
    newsletter = Topic.objects.get(key="newsletter")
    ledger_append(
        profile=anna, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    ledger_append(
        profile=bram, topic=newsletter, action=Action.CONFIRMED, now=NOW, source=Source.FORM
    )
    suppression_add(profile=bram, reason="complaint", now=NOW)
    assert selected(cond("consent", topic="newsletter", status="confirmed")) == {"anna", "bram"}
    assert selected(cond("consent", topic="newsletter", status="none")) == {"cato"}
    assert selected(cond("suppressed")) == {"bram"}
    assert selected(cond("contactable", topic="newsletter")) == {"anna"}
    assert selected(cond("contactable", topic="service")) == {"anna", "cato"}


def test_interests_at_risk_and_baskets(people):
    anna, bram, _ = people
    Activity.objects.create(
        profile=anna, interests={"viewed": {"jassen": {"count": 2}}, "bought": {}}, at_risk=True
    )
    Activity.objects.create(
        profile=bram,
        interests={"viewed": {}, "bought": {"jassen": {"count": 1}}},
        last_basket_at=NOW,
    )
    assert selected(cond("interest", how="viewed", category="jassen")) == {"anna"}
    assert selected(cond("interest", how="bought", category="jassen")) == {"bram"}
    assert selected(cond("at_risk")) == {"anna"}
    assert selected(cond("open_basket")) == {"bram"}


def test_a_selection_is_one_query(people):
    definition = group(
        "or",
        group(
            "and",
            cond("field", field="city", operator="eq", value="Utrecht"),
            cond("consent", topic="newsletter", status="confirmed"),
        ),
        cond("event", event="Order Completed", days=30, times=2),
        cond("contactable", topic="newsletter", negate=True),
    )
    with CaptureQueriesContext(connection) as queries:
        selection_profiles(definition, now=NOW).count()
    touching_customers = [q for q in queries if "profiles_profile" in q["sql"]]
    assert len(touching_customers) == 1  # the selection itself: one query
    assert len(queries) <= 3  # plus looking up the topics named in it


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (cond("nonsense"), "unknown kind"),
        (cond("field", field="shoe", operator="eq", value="x"), "is not a choice"),
        (cond("field", field="order_count", operator="gte", value="many"), "does not fit"),
        (cond("event", event="Order Completed", days=-3), "cannot be negative"),
        ({"op": "xor", "children": []}, "“and” or “or”"),
        ("not even a dict", "a group or a condition"),
    ],
)
def test_a_bad_definition_is_refused_and_says_where(people, definition, message):
    from django.utils import translation

    with translation.override("en"), pytest.raises(ValidationError) as excinfo:
        selected(definition)
    assert message in " ".join(excinfo.value.messages)


def test_the_live_count_and_preview_while_editing(marketer_client, people):
    url = reverse("admin:profiles_selection_preview")
    body = {"definition": cond("field", field="city", operator="eq", value="Utrecht")}
    data = marketer_client.post(url, json.dumps(body), content_type="application/json").json()
    assert data["count"] == 2
    assert {p["user_id"] for p in data["preview"]} == {"anna", "cato"}
    bad = marketer_client.post(
        url, json.dumps({"definition": cond("nonsense")}), content_type="application/json"
    ).json()
    assert "onbekende soort voorwaarde" in bad["error"]  # the admin speaks Dutch


def test_a_saved_selection_exports_its_customers(marketer_client, marketer, people):
    add = reverse("admin:profiles_selection_add")
    definition = cond("field", field="order_count", operator="gte", value="1")
    response = marketer_client.post(
        add, {"name": "Kopers", "description": "", "definition": json.dumps(definition)}
    )
    assert response.status_code == 302
    selection = Selection.objects.get(name="Kopers")
    assert selection.created_by == marketer
    export = marketer_client.get(reverse("admin:profiles_selection_export", args=[selection.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert {r["user_id"] for r in rows} == {"anna", "bram"}


def test_an_invalid_definition_cannot_be_saved(marketer_client, people):
    response = marketer_client.post(
        reverse("admin:profiles_selection_add"),
        {"name": "Kapot", "description": "", "definition": json.dumps(cond("nonsense"))},
    )
    assert response.status_code == 200
    assert "definition" in response.context["adminform"].form.errors
    assert not Selection.objects.exists()
