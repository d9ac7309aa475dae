"""Hostile input, by property (hypothesis) and by table: whatever arrives, the event
parser and the import reader answer with their own refusal or a clean result, never an
exception of another kind (which the API and the admin would answer with a 500), and the
API refuses what it cannot keep without storing half of it."""

import base64
import contextlib
import datetime as dt
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.apikeys import api_key_create
from events.models import Event
from events.segment import BadMessage, dumps, loads, message_parse
from profiles.importing import ImportFileError, profiles_import, table_read
from profiles.models import Profile

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

# Any JSON value, with the odd strings hostile input likes: NUL, surrogates, RTL, emoji.
_text = st.text() | st.sampled_from(
    ["\x00", "\ud800", "\u202eevil", "👩‍👩‍👧", "' OR 1=1 --", "<script>x</script>", "9" * 400]
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)
_message = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]) | _text,
        "userId": _json,
        "anonymousId": _json,
        "event": _json,
        "messageId": _json,
        "timestamp": _json | st.datetimes().map(lambda d: d.isoformat()),
        "sentAt": _json,
        "properties": _json,
        "traits": _json,
        "context": _json,
        "previousId": _json,
        "name": _json,
    },
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(raw=_message | _json)
def test_a_message_is_parsed_or_refused_with_a_reason_never_crashes(raw):
    try:
        message = message_parse(raw, index=0, received_at=NOW)
    except BadMessage as refusal:
        assert refusal.status in (400, 413) and refusal.field is not None
        return
    # What will be stored is JSON PostgreSQL takes: no NUL, readable back.
    assert "\\u0000" not in message.body_json
    assert json.loads(message.body_json) is not None or message.body_json == "null"
    assert message.timestamp <= NOW


@PROPERTY
@given(body=st.binary(max_size=2000))
def test_any_bytes_as_a_body_are_json_or_refused(body):
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        loads(body)


@PROPERTY
@given(value=_json)
def test_anything_parsed_can_be_written_back(value):
    assert isinstance(dumps({"v": value}), str)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    content=st.binary(max_size=3000)
    | st.lists(st.lists(_text, max_size=6), max_size=8).map(
        lambda rows: "\n".join(",".join(c.replace("\n", " ") for c in r) for r in rows).encode(
            "utf-8", "surrogatepass"
        )
    ),
    name=st.sampled_from(["klanten.csv", "klanten.xlsx", "klanten.txt", "k"]),
)
def test_any_file_is_read_or_refused_as_a_whole(content, name):
    try:
        header, rows, _total = table_read(content, name)
        for _row in rows:
            pass
    except ImportFileError:
        pass


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.lists(
        st.tuples(_text, _text, _text, _text | st.sampled_from(["0000-01-01", "9999-12-31"])),
        min_size=1,
        max_size=5,
    )
)
def test_a_dry_run_of_any_rows_reports_them_and_writes_nothing(rows):
    lines = ["user_id,email,first_name,birth_date"]
    lines += [",".join(f'"{c.replace(chr(34), "")}"' for c in row) for row in rows]
    content = "\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        report = profiles_import(content=content, filename="k.csv", dry_run=True)
    except ImportFileError:
        return
    assert report.error_count <= report.rows  # every refusal names a row that is there
    assert not Profile.objects.exists()


# --- The table ------------------------------------------------------------------------


@pytest.fixture
def post(client, db):
    key = api_key_create(name="webshop", kind="write")[1]
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def send(path, raw: bytes, **headers):
        return client.generic(
            "POST",
            f"/api/v1/{path}",
            raw,
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            **headers,
        )

    return send


def _track(**extra) -> bytes:
    return json.dumps({"userId": "u1", "event": "Product Viewed", **extra}).encode()


def _nested(depth: int) -> bytes:
    return (
        b'{"userId":"u1","event":"x","properties":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    )


HOSTILE = [
    ("malformed JSON", b'{"userId": "u1", "event": ', {}, 400),
    ("deeply nested JSON", _nested(3000), {}, 400),
    ("wrong types", _track(properties="not an object"), {}, 400),
    (
        "huge number",
        b'{"userId":"u1","event":"x","properties":{"n":1' + b"0" * 5000 + b"}}",
        {},
        400,  # Python reads no integer of over 4,300 digits: not JSON it takes
    ),
    ("NaN", b'{"userId":"u1","event":"x","properties":{"n":NaN}}', {}, 400),
    ("10 MB body", b" " * (10 * 1024 * 1024), {}, 413),
    ("gzip bomb", gzip.compress(b"0" * (50 * 1024 * 1024)), {"HTTP_CONTENT_ENCODING": "gzip"}, 413),
    ("broken gzip", b"\x1f\x8b\x08\x00garbage", {"HTTP_CONTENT_ENCODING": "gzip"}, 400),
    ("NUL in a value", _track(properties={"name": "a\x00b"}), {}, 400),
    ("lone surrogate", b'{"userId":"u1","event":"\\ud800"}', {}, 400),
    ("year 0000", _track(timestamp="0000-01-01T00:00:00Z"), {}, 400),
    ("year 9999", _track(timestamp="9999-12-31T23:59:59Z"), {}, 400),
    (
        "an invalid time zone",
        json.dumps(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"email": "a@example.com", "timezone": "Mars/Olympus"},
            }
        ).encode(),
        {},
        400,
    ),
    (
        "a birthday in 0000",
        json.dumps(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"email": "a@example.com", "birthday": "0000-01-01"},
            }
        ).encode(),
        {},
        400,
    ),
    (
        "a birthday in 9999",
        json.dumps(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"email": "a@example.com", "birthday": "9999-12-31"},
            }
        ).encode(),
        {},
        400,
    ),
    (
        "an IP-literal address",
        json.dumps(
            {"type": "identify", "userId": "u1", "traits": {"email": "x@[127.0.0.1]"}}
        ).encode(),
        {},
        400,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("what", "raw", "headers", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_on_the_event_api_is_refused_and_stores_nothing(
    post, what, raw, headers, status
):
    path = "identify" if b'"identify"' in raw else "track"
    response = post(path, raw, **headers)
    assert response.status_code == status, response.content[:200]
    assert response.json()["error"] in ("invalid", "too_large")
    assert not Event.objects.exists() and not Profile.objects.exists()


ODD_BUT_FINE = [
    (
        "emoji and right-to-left text",
        {"firstName": "Ṁaryam 👩‍👩‍👧 \u202eبشرى", "lastName": "O'Brien"},
    ),
    ("SQL-like strings", {"firstName": "Robert'); DROP TABLE profiles_profile;--"}),
    ("markup", {"firstName": "<img src=x onerror=alert(1)>"}),
    ("an international domain", {"email": "jan@bücher.de"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("what", "traits"), ODD_BUT_FINE, ids=[o[0] for o in ODD_BUT_FINE])
def test_odd_but_valid_input_is_kept_exactly_as_text(post, what, traits):
    traits = {"email": "odd@example.com", **traits}
    raw = json.dumps({"type": "identify", "userId": "u1", "traits": traits}).encode()
    assert post("identify", raw).status_code == 200
    profile = Profile.objects.get(user_id="u1")
    if "firstName" in traits:
        assert profile.first_name == traits["firstName"]
    assert Profile.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        b"user_id,email\n\xff\xfe\x00b\x00r\x00o\x00k\x00e\x00n",  # UTF-16 without a header
        b"\x00\x00\x00\x00",
        "user_id;email\nA1;a@example.com".encode("utf-32"),
        b"PK\x03\x04 a zip that is no workbook",
    ],
)
def test_a_file_in_a_broken_encoding_is_refused_whole_and_imports_nothing(content):
    with pytest.raises(ImportFileError):
        profiles_import(content=content, filename="k.csv", dry_run=False)
    assert not Profile.objects.exists()
