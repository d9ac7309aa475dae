"""Reading calls of Segment's HTTP tracking API: what every Segment or RudderStack library
sends. Checked by hand rather than with a schema library: it is the hot path (thousands
of messages a second), and a refusal must name the batch index and the field.
"""

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import DomainError

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("identify", "track", "page", "screen", "group", "alias")
# The times an event may carry: no shop reports 0083 or 9404, and the client's clock
# correction must stay within what a datetime (and PostgreSQL) can hold.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class BadMessage(DomainError):
    """Input we refuse, with the place it is in: 400 (or 413 when `too_large`)."""

    def __init__(
        self, message: str, *, field: str, index: int | None = None, too_large: bool = False
    ):
        super().__init__(
            "too_large" if too_large else "invalid",
            message,
            field=field,
            status=413 if too_large else 400,
        )
        self.index = index
        self.too_large = too_large

    def detail(self) -> str:
        """Where in the batch, and what: "properties (message 3): must be an object"."""
        where = f" (message {self.index})" if self.index is not None else ""
        return f"{self.field or 'message'}{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.index is not None:
            error["index"] = self.index
        return error

    def errors(self) -> list[dict[str, Any]]:
        return [self.as_dict()]


@dataclass
class Message:
    index: int
    type: str
    message_id: str
    user_id: str
    anonymous_id: str
    name: str
    timestamp: dt.datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    previous_id: str = ""
    group_id: str = ""
    raw_size: int = 0
    body_json: str = ""  # what is stored: properties, or traits (identify, group)
    context_json: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes) -> Any:
    """A request body's JSON, read as PostgreSQL can keep it: NaN and ±Infinity (which
    Python's parser would take) refused, numbers of any size exact (orjson would turn
    the ones beyond 64 bits into floats, so the standard parser reads). ValueError for
    what we cannot read, including nesting deeper than the parser goes."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def dumps(value: dict[str, Any]) -> str:
    """JSON as the event store keeps it: compact UTF-8. orjson writes it ten times faster
    than the standard library (three per message, on the API's hot path); it refuses
    integers beyond 64 bits and very deep nesting, which the standard library writes."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def parse_time(value: Any, *, field_name: str, index: int | None) -> dt.datetime | None:
    """An ISO-8601 time (a missing zone means UTC), or None when absent."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadMessage("must be an ISO-8601 time", field=field_name, index=index)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadMessage("must be an ISO-8601 time", field=field_name, index=index) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if not EARLIEST <= parsed <= LATEST:
        raise BadMessage(
            f"must be a time between {EARLIEST.year} and {LATEST.year}",
            field=field_name,
            index=index,
        )
    return parsed


def _id(value: Any, *, field_name: str, index: int | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadMessage("must be a string or a number", field=field_name, index=index)
    text = str(value).strip()
    if len(text) > 255:
        raise BadMessage("at most 255 characters", field=field_name, index=index)
    if _CONTROL.search(text):
        raise BadMessage("contains invisible control characters", field=field_name, index=index)
    return text


# Control characters an id never has; NUL is refused everywhere (PostgreSQL cannot store
# it in text or JSON).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _nul_field(value: Any, path: str) -> str | None:
    """The path of the first text (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return path
            found = _nul_field(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _nul_field(item, f"{path}[{n}]")
            if found:
                return found
    return None


def _object(message: dict[str, Any], key: str, index: int | None) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage("must be an object", field=key, index=index)
    return value


def message_parse(
    raw: Any,
    *,
    index: int | None,
    received_at: dt.datetime,
    expected_type: str | None = None,
    batch_sent_at: dt.datetime | None = None,
    batch_context: dict[str, Any] | None = None,
) -> Message:
    """One message, checked; refuses with BadMessage naming the field (and index)."""
    if not isinstance(raw, dict):
        raise BadMessage("must be an object", field="", index=index)
    kind = _kind(raw, expected_type, index)
    user_id, anonymous_id, previous_id = _ids(raw, kind, index)
    name = _name(raw, kind, index)
    message_id = _message_id(raw, index)
    properties = _object(raw, "properties", index)
    traits = _object(raw, "traits", index)
    context = {**(batch_context or {}), **_object(raw, "context", index)}
    if kind == "identify" and not traits:
        traits = _object(context, "traits", index)
    group_id = _id(raw.get("groupId"), field_name="groupId", index=index)
    if kind in ("identify", "group"):
        body = {"groupId": group_id, **traits} if kind == "group" else traits
    else:
        body = {"previousId": previous_id} if kind == "alias" else properties
    body_json, context_json, size = _stored(raw, body, context, index)
    return Message(
        index=index if index is not None else 0,
        type=kind,
        message_id=message_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        name=name,
        timestamp=_happened(raw, index, batch_sent_at=batch_sent_at, received_at=received_at),
        properties=properties,
        traits=traits,
        context=context,
        previous_id=previous_id,
        group_id=group_id,
        raw_size=size,
        body_json=body_json,
        context_json=context_json,
    )


def _kind(raw: dict[str, Any], expected_type: str | None, index: int | None) -> str:
    kind = raw.get("type", expected_type)
    if expected_type and kind != expected_type:
        kind = expected_type  # the single-call endpoints name the type themselves
    if kind not in TYPES:
        raise BadMessage(f"must be one of {', '.join(TYPES)}", field="type", index=index)
    return kind


def _ids(raw: dict[str, Any], kind: str, index: int | None) -> tuple[str, str, str]:
    """userId, anonymousId and previousId: an alias needs the first and the last, every
    other call one of the first two."""
    user_id = _id(raw.get("userId"), field_name="userId", index=index)
    anonymous_id = _id(raw.get("anonymousId"), field_name="anonymousId", index=index)
    previous_id = _id(raw.get("previousId"), field_name="previousId", index=index)
    if kind == "alias":
        if not user_id:
            raise BadMessage("alias needs a userId", field="userId", index=index)
        if not previous_id:
            raise BadMessage("alias needs a previousId", field="previousId", index=index)
    elif not user_id and not anonymous_id:
        raise BadMessage("a userId or an anonymousId is required", field="userId", index=index)
    return user_id, anonymous_id, previous_id


def _name(raw: dict[str, Any], kind: str, index: int | None) -> str:
    """A track call's event, a page's or screen's name; nothing for the others."""
    name = ""
    if kind == "track":
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            raise BadMessage("track needs the event's name", field="event", index=index)
        name = event.strip()
    elif kind in ("page", "screen"):
        value = raw.get("name") or ""
        if not isinstance(value, str):
            raise BadMessage("must be a string", field="name", index=index)
        name = value.strip()
    if len(name) > 200:
        raise BadMessage(
            "at most 200 characters", field="event" if kind == "track" else "name", index=index
        )
    return name


def _message_id(raw: dict[str, Any], index: int | None) -> str:
    message_id = raw.get("messageId")
    if message_id in (None, ""):
        return str(uuid.uuid4())
    if (
        not isinstance(message_id, str | int)
        or isinstance(message_id, bool)
        or len(str(message_id)) > 100
    ):
        raise BadMessage(
            "must be a string of at most 100 characters", field="messageId", index=index
        )
    return str(message_id)


def _stored(
    raw: dict[str, Any], body: dict[str, Any], context: dict[str, Any], index: int | None
) -> tuple[str, str, int]:
    """The JSON that will be stored (body and context), written once, and the message's
    size counted on it with the message's other fields (json.dumps writes a NUL as
    \\u0000, which PostgreSQL cannot keep)."""
    rest = {k: v for k, v in raw.items() if k not in ("properties", "traits", "context")}
    try:
        body_json, context_json, rest_json = dumps(body), dumps(context), dumps(rest)
        size = len(body_json.encode()) + len(context_json.encode()) + len(rest_json.encode())
    except RecursionError:
        raise BadMessage("nested too deeply", field="", index=index) from None
    except UnicodeEncodeError:  # a lone surrogate (\ud800): no UTF-8, no PostgreSQL text
        raise BadMessage("contains an invalid unicode escape", field="", index=index) from None
    if size > MAX_EVENT_BYTES:
        raise BadMessage(
            f"an event may be at most {MAX_EVENT_BYTES // 1024} KB",
            field="",
            index=index,
            too_large=True,
        )
    if "\\u0000" in body_json or "\\u0000" in context_json or "\\u0000" in rest_json:
        nul = _nul_field(raw, "") or _nul_field(context, ".context")
        raise BadMessage("contains a NUL character", field=(nul or "").lstrip("."), index=index)
    return body_json, context_json, size


def _happened(
    raw: dict[str, Any],
    index: int | None,
    *,
    batch_sent_at: dt.datetime | None,
    received_at: dt.datetime,
) -> dt.datetime:
    timestamp = parse_time(raw.get("timestamp"), field_name="timestamp", index=index)
    original = parse_time(raw.get("originalTimestamp"), field_name="originalTimestamp", index=index)
    sent_at = parse_time(raw.get("sentAt"), field_name="sentAt", index=index) or batch_sent_at
    return _corrected_time(
        timestamp=timestamp, original=original, sent_at=sent_at, received_at=received_at
    )


def _corrected_time(
    *,
    timestamp: dt.datetime | None,
    original: dt.datetime | None,
    sent_at: dt.datetime | None,
    received_at: dt.datetime,
) -> dt.datetime:
    """When it happened, corrected for the client's clock as Segment does:
    receivedAt − (sentAt − originalTimestamp). Without sentAt the time is taken as sent;
    without any time, it happened when it arrived. Never later than its arrival."""
    happened = original or timestamp
    if happened is None:
        return received_at
    if sent_at is not None:
        happened = received_at - (sent_at - happened)
    return max(min(happened, received_at), EARLIEST)
