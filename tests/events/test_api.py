"""The event API as the shop's systems call it: accepted, refused, idempotent."""

import base64
import datetime as dt
import gzip
import json

import pytest

from core.apikeys import api_key_create
from events.models import Activity, Event
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def write_key():
    return api_key_create(name="webshop", kind="write")[1]


@pytest.fixture
def send(client, write_key, django_capture_on_commit_callbacks):
    def post(path, body, *, key=write_key, compress=False, raw=None, **headers):
        data = raw if raw is not None else json.dumps(body).encode()
        if compress:
            data = gzip.compress(data)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        if key:
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic(
                "POST", f"/api/v1/{path}", data, content_type="application/json", **headers
            )

    return post


def track(n=1, **extra):
    return {
        "type": "track",
        "userId": "u1",
        "event": "Product Viewed",
        "messageId": f"m{n}",
        "properties": {"sku": "A"},
        **extra,
    }


def test_a_track_call_is_stored_and_answered_like_segment(send):
    response = send("track", track())
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get()
    assert (event.type, event.name, event.user_id, event.properties) == (
        "track",
        "Product Viewed",
        "u1",
        {"sku": "A"},
    )


def test_every_call_type_is_accepted(send):
    for n, (path, body) in enumerate(
        [
            ("identify", {"userId": "u1", "traits": {"email": "a@example.com"}}),
            ("track", {"userId": "u1", "event": "Signed Up"}),
            ("page", {"userId": "u1", "name": "Home", "properties": {"url": "https://shop/"}}),
            ("screen", {"anonymousId": "a9", "name": "Cart"}),
            ("group", {"userId": "u1", "groupId": "company-7", "traits": {"name": "Acme"}}),
            ("alias", {"userId": "u1", "previousId": "a9"}),
        ]
    ):
        assert send(path, {**body, "messageId": f"m{n}"}).status_code == 200, path
    assert Event.objects.count() == 6
    assert set(Event.objects.values_list("type", flat=True)) == {
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    }
    # The screen of the anonymous visitor now belongs to u1 (alias).
    assert Event.objects.get(type="screen").profile.user_id == "u1"


def test_the_write_key_may_come_in_the_body(send, write_key):
    assert send("track", {**track(), "writeKey": write_key}, key=None).status_code == 200


@pytest.mark.parametrize("kind", ["missing", "wrong", "admin token", "revoked"])
def test_a_call_without_a_live_write_key_is_refused_with_401(send, kind):
    from django.utils import timezone

    from core.models import ApiKey

    key = {
        "missing": None,
        "wrong": "kb_write_nope",
        "admin token": api_key_create(name="a", kind="admin")[1],
    }.get(kind)
    if kind == "revoked":
        key = api_key_create(name="old", kind="write")[1]
        ApiKey.objects.filter(name="old").update(revoked_at=timezone.now())
    response = send("track", track(), key=key)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert not Event.objects.exists()


def test_gzip_bodies_are_read(send):
    assert send("batch", {"batch": [track(1), track(2)]}, compress=True).status_code == 200
    assert Event.objects.count() == 2


def test_a_repeated_message_id_is_accepted_and_stores_nothing_new(send):
    assert send("track", track()).status_code == 200
    assert send("track", track(properties={"sku": "changed"})).status_code == 200
    assert Event.objects.get().properties == {"sku": "A"}


def test_a_past_timestamp_means_it_happened_then(send):
    send("track", track(timestamp="2026-03-01T09:30:00+01:00"))
    assert Event.objects.get().timestamp == dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)


def test_clock_skew_is_corrected_from_sent_at(send):
    import time_machine

    received = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(received, tick=False):
        # The client's clock runs 10 minutes fast: it stamped the event 2 minutes before sending.
        send(
            "batch",
            {
                "batch": [track(originalTimestamp="2026-11-23T12:08:00Z")],
                "sentAt": "2026-11-23T12:10:00Z",
            },
        )
    event = Event.objects.get()
    assert event.timestamp == received - dt.timedelta(minutes=2)
    assert event.received_at == received


@pytest.mark.parametrize(
    ("body", "field", "index"),
    [
        ({"batch": [track(1), {"type": "track", "event": "No Id", "messageId": "x"}]}, "userId", 1),
        ({"batch": [track(1), track(2, event="")]}, "event", 1),
        ({"batch": [track(1), {"type": "nonsense", "userId": "u"}]}, "type", 1),
        ({"batch": [track(1), track(2, timestamp="yesterday")]}, "timestamp", 1),
        ({"batch": [track(1), track(2, properties=[1, 2])]}, "properties", 1),
        ({"batch": [track(1), "not an object"]}, "", 1),
        ({"batch": [track(1), {"type": "alias", "userId": "u1"}]}, "previousId", 1),
        (
            {
                "batch": [
                    track(1),
                    {"type": "identify", "userId": "u2", "traits": {"email": "kapot"}},
                ]
            },
            "traits.email",
            1,
        ),
        (
            {
                "batch": [
                    track(1),
                    {
                        "type": "identify",
                        "userId": "u2",
                        "traits": {"email": "ok@example.com", "birthday": "2999-01-01"},
                    },
                ]
            },
            "traits.birthday",
            1,
        ),
        ({"batch": "not a list"}, "batch", None),
        ({"batch": [track(1), track(2, userId="u\x00x")]}, "userId", 1),
        ({"batch": [track(1), track(2, anonymousId="a\x07")]}, "anonymousId", 1),
        ({"batch": [track(1), track(2, properties={"name": "a\x00b"})]}, "properties.name", 1),
    ],
)
def test_bad_input_is_a_400_naming_field_and_index_and_nothing_is_stored(send, body, field, index):
    response = send("batch", body)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert error.get("index") == index
    assert not Event.objects.exists() and not Profile.objects.exists()


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\x1f\x8b broken"])
def test_a_body_that_is_not_a_json_object_is_a_400(send, raw):
    response = send("track", None, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # Python's own parser reads these; PostgreSQL's JSON cannot hold them.
        (b'{"type": "track", "userId": "u1", "event": "E", "properties": {"price": NaN}}', "body"),
        (
            b'{"type": "track", "userId": "u1", "event": "E", "properties": {"v": -Infinity}}',
            "body",
        ),
        # A lone surrogate: valid JSON escaping, but no text UTF-8 or PostgreSQL can hold.
        (b'{"type": "track", "userId": "u1", "event": "E", "properties": {"v": "\\ud800"}}', ""),
        # Nested deeper than any real event: refused, not a crash.
        (
            b'{"type": "track", "userId": "u1", "event": "E", "properties": {"a": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}}",
            "body",
        ),
    ],
)
def test_json_that_postgresql_cannot_store_is_a_400_and_nothing_is_stored(send, raw, field):
    response = send("track", None, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Event.objects.exists()


def test_numbers_beyond_64_bits_are_kept_exactly(send):
    big = 2**70 + 1
    raw = json.dumps(track(properties={"ean": big, "price": 19.95})).encode()
    assert send("track", None, raw=raw).status_code == 200
    assert Event.objects.get().properties == {"ean": big, "price": 19.95}


def test_an_event_over_32_kb_is_a_413(send):
    big = track(properties={"blob": "x" * (33 * 1024)})
    assert send("track", big).status_code == 413
    assert send("batch", {"batch": [track(1), big]}).status_code == 413
    assert not Event.objects.exists()


def test_a_batch_over_500_kb_is_a_413_even_gzipped(send):
    batch = {"batch": [track(n, properties={"blob": "y" * 20_000}) for n in range(30)]}
    assert send("batch", batch).status_code == 413
    assert send("batch", batch, compress=True).status_code == 413
    assert not Event.objects.exists()


def test_identify_maps_traits_onto_the_profile(send):
    send(
        "identify",
        {
            "userId": "u7",
            "messageId": "i1",
            "traits": {
                "email": "Sanne@Example.nl",
                "firstName": "Sanne",
                "lastName": "de Vries",
                "birthday": "1990-05-17T00:00:00Z",
                "phone": "+31 6 12345678",
                "address": {
                    "street": "Lange Gracht",
                    "postalCode": "2312nv",
                    "city": "Leiden",
                    "country": "NL",
                },
                "locale": "en-GB",
                "plan": "gold",
                "timezone": "Europe/Brussels",
            },
            "context": {"timezone": "Asia/Tokyo"},
        },
    )
    profile = Profile.objects.get(user_id="u7")
    assert (profile.email, profile.first_name, profile.last_name) == (
        "sanne@example.nl",
        "Sanne",
        "de Vries",
    )
    assert (str(profile.birth_date), profile.phone, profile.postal_code, profile.city) == (
        "1990-05-17",
        "+31 6 12345678",
        "2312 NV",
        "Leiden",
    )
    assert (profile.language, profile.timezone) == ("en", "Europe/Brussels")
    assert profile.custom_attributes == {"plan": "gold"}
    assert profile.changes.get().source == "api"


def test_the_browsers_time_zone_and_locale_apply_when_the_shop_gives_none(send):
    send(
        "identify",
        {
            "userId": "u8",
            "traits": {"email": "t@example.com"},
            "context": {"timezone": "America/New_York", "locale": "de-DE"},
        },
    )
    profile = Profile.objects.get(user_id="u8")
    assert profile.timezone == "America/New_York"
    assert profile.language == "nl"  # German is not offered: the default stays


def test_the_shop_changes_an_address_directly_and_it_is_in_the_history(send):
    ProfileFactory(user_id="u9", email="oud@example.com")
    send("identify", {"userId": "u9", "traits": {"email": "nieuw@example.com"}})
    profile = Profile.objects.get(user_id="u9")
    assert profile.email == "nieuw@example.com"
    assert profile.changes.first().changes == {"email": ["oud@example.com", "nieuw@example.com"]}


def test_traits_sent_before_the_address_are_kept_for_when_it_comes(send):
    send(
        "identify",
        {
            "userId": "u10",
            "traits": {"firstName": "Daan"},
            "messageId": "i1",
            "timestamp": "2026-11-01T00:00:00Z",
        },
    )
    assert not Profile.objects.exists()
    send("identify", {"userId": "u10", "traits": {"email": "daan@example.com"}, "messageId": "i2"})
    profile = Profile.objects.get(user_id="u10")
    assert (profile.first_name, profile.email) == ("Daan", "daan@example.com")
    assert Event.objects.filter(profile=profile).count() == 2


def test_someone_who_subscribed_on_the_site_gets_the_shops_user_id(
    send, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from consent.models import Topic
    from consent.services import subscription_request

    with django_capture_on_commit_callbacks(execute=True):
        outcome = subscription_request(
            topics=[Topic.objects.get(key="newsletter")],
            email="lisa@example.com",
            source="form",
            now=timezone.now(),
        )
    send(
        "identify",
        {"userId": "shop-55", "traits": {"email": "lisa@example.com", "firstName": "Lisa"}},
    )
    profile = Profile.objects.get(pk=outcome.profile.pk)
    assert (profile.user_id, profile.first_name) == ("shop-55", "Lisa")
    assert Profile.objects.count() == 1


def test_an_erased_address_identified_again_is_not_contactable(send):
    from django.utils import timezone

    from consent.models import Topic
    from consent.selectors import send_permission
    from profiles.services import profile_erase

    profile_erase(
        profile=ProfileFactory(user_id="u11", email="weg@example.com"),
        now=timezone.now(),
        source="api",
    )
    send("identify", {"userId": "u11", "traits": {"email": "weg@example.com"}})
    send(
        "track",
        {
            "userId": "u11",
            "event": "Order Completed",
            "properties": {"total": 10, "marketing_opt_out_offered": True},
        },
    )
    returned = Profile.objects.get(user_id="u11")
    newsletter = Topic.objects.get(key="newsletter")
    assert not send_permission(profile=returned, topic=newsletter, now=timezone.now()).allowed
    assert not returned.consents.exists()


def test_one_batch_links_the_anonymous_events_of_several_customers(send):
    ProfileFactory(user_id="u2", email="bas@example.com")
    send(
        "batch",
        {
            "batch": [
                track(1, userId=None, anonymousId="a1", event="Product Added"),
                track(2, userId=None, anonymousId="a2", event="Product Added"),
                track(3, userId=None, anonymousId="a3", event="Product Viewed"),
            ]
        },
    )
    send(
        "batch",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "u1",
                    "anonymousId": "a1",
                    "traits": {"email": "anna@example.com"},
                    "messageId": "m4",
                },
                {"type": "alias", "userId": "u2", "previousId": "a2", "messageId": "m5"},
                # a later claim on a1 does not move what the first link gave to u1
                {"type": "alias", "userId": "u2", "previousId": "a1", "messageId": "m6"},
                track(7, userId=None, anonymousId="a1", event="Product Viewed"),
            ]
        },
    )
    u1, u2 = Profile.objects.get(user_id="u1"), Profile.objects.get(user_id="u2")
    owned = dict(Event.objects.values_list("message_id", "profile"))
    assert owned == {
        "m1": u1.pk,
        "m2": u2.pk,
        "m3": None,  # a3 was never linked to anyone
        "m4": u1.pk,
        "m5": u2.pk,
        "m6": u2.pk,
        "m7": u1.pk,
    }
    assert Event.objects.get(message_id="m1").user_id == "u1"
    baskets = dict(Activity.objects.values_list("profile__user_id", "last_basket_at"))
    assert baskets["u1"] is not None and baskets["u2"] is not None  # the baskets count


def test_a_batch_of_orders_grants_soft_opt_ins_and_honours_a_no_in_order(send):
    from consent.models import ConsentEvent, ConsentState, Topic
    from profiles.models import WebhookDelivery, WebhookEndpoint

    WebhookEndpoint.objects.create(
        name="CRM", url="https://crm.example/hook", events=["consent.changed"]
    )
    for user_id in ("u1", "u2", "u3"):
        ProfileFactory(user_id=user_id, email=f"{user_id}@example.com")

    def order(n, user_id, **props):
        return track(
            n,
            userId=user_id,
            event="Order Completed",
            properties={"order_id": f"10{n}", "total": 20, **props},
        )

    offered = {"marketing_opt_out_offered": True}
    response = send(
        "batch",
        {
            "batch": [
                order(1, "u1", **offered),
                order(2, "u2", **offered),
                order(3, "u2", **offered, marketing_opt_out=True),  # then said no
                order(4, "u3", **offered),
                order(5, "u3", **offered),  # a second order grants nothing new
            ]
        },
    )
    assert response.status_code == 200
    newsletter = Topic.objects.get(key="newsletter")
    ledger = list(
        ConsentEvent.objects.filter(topic=newsletter)
        .order_by("id")
        .values_list("profile__user_id", "action")
    )
    assert ledger == [
        ("u1", "soft_opt_in"),
        ("u2", "soft_opt_in"),
        ("u2", "withdrawn"),
        ("u3", "soft_opt_in"),
    ]
    assert ConsentEvent.objects.filter(profile__user_id="u1").get().note == "order 101"
    states = dict(
        ConsentState.objects.filter(topic=newsletter).values_list("profile__user_id", "status")
    )
    assert states == {"u1": "confirmed", "u2": "withdrawn", "u3": "confirmed"}
    assert WebhookDelivery.objects.filter(event="consent.changed").count() == len(ledger)


def test_a_visitor_linked_before_is_known_in_a_later_anonymous_batch(send):
    send(
        "identify",
        {"userId": "u1", "anonymousId": "a1", "traits": {"email": "anna@example.com"}},
    )
    send("batch", {"batch": [track(1, userId=None, anonymousId="a1", event="Product Added")]})
    event = Event.objects.get(message_id="m1")
    assert (event.profile.user_id, event.user_id) == ("u1", "u1")
    assert Activity.objects.get(profile=event.profile).last_basket_at is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "0083-06-07T20:21:55+22:26"),
        ("timestamp", "0001-01-01T00:00:00Z"),
        ("timestamp", "9999-12-31T23:59:59Z"),
        ("sentAt", "9404-02-04T08:01:12.03-13:06"),
        ("originalTimestamp", "0235-08-09T07:20:42-23:02"),
    ],
)
def test_a_time_no_shop_reports_is_a_400_not_a_crash(send, field, value):
    """Found by the fuzzer: a year 83 (or 9404) made the clock correction overflow (500)."""
    response = send("track", track(1, **{field: value}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Event.objects.exists()
