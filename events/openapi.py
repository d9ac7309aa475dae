"""The event API in the OpenAPI document (served at /api/v1/openapi.json beside the
management API): Segment's HTTP tracking API as Klantbeeld takes it, with its refusals.

The views are plain Django views (events/views.py: gzip bodies, a write key as basic
auth, size limits before parsing), so their description is written here, by hand, and
added to the document by config.api. A test fuzzes the API against this document.
"""

from typing import Any

from .segment import MAX_BATCH_BYTES, MAX_EVENT_BYTES

_ID = {"type": ["string", "number"], "maxLength": 255, "description": "a string or a number"}
_OBJECT = {"type": "object", "additionalProperties": True}
_TIME = {"type": "string", "format": "date-time"}

# What every call may carry (Segment's common fields).
_COMMON: dict[str, Any] = {
    "userId": _ID,
    "anonymousId": _ID,
    "messageId": {
        "type": ["string", "integer"],
        "maxLength": 100,
        "description": "makes the call idempotent: a repeat stores nothing",
    },
    "timestamp": {**_TIME, "description": "when it happened (a past time is honoured)"},
    "originalTimestamp": _TIME,
    "sentAt": {**_TIME, "description": "the client's clock, to correct its skew"},
    "context": {**_OBJECT, "description": "timezone, locale, campaign, consent, ip …"},
    "integrations": _OBJECT,
    "writeKey": {"type": "string", "description": "instead of basic auth"},
}
_IDENTIFIED = [{"required": ["userId"]}, {"required": ["anonymousId"]}]


def _message(kind: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "title": f"{kind} call",
        "properties": {"type": {"type": "string", "enum": [kind]}, **_COMMON, **properties},
        "additionalProperties": True,
    }
    if required:
        schema["required"] = required
    if kind != "alias":
        schema["anyOf"] = _IDENTIFIED
    return schema


MESSAGES: dict[str, dict[str, Any]] = {
    "identify": _message(
        "identify",
        {
            "traits": {
                **_OBJECT,
                "description": "email, firstName, lastName, birthday, phone, address, "
                "timezone, locale; the rest become custom attributes",
            }
        },
        [],
    ),
    "track": _message(
        "track",
        {"event": {"type": "string", "minLength": 1, "maxLength": 200}, "properties": _OBJECT},
        ["event"],
    ),
    "page": _message(
        "page", {"name": {"type": "string", "maxLength": 200}, "properties": _OBJECT}, []
    ),
    "screen": _message(
        "screen", {"name": {"type": "string", "maxLength": 200}, "properties": _OBJECT}, []
    ),
    "group": _message("group", {"groupId": _ID, "traits": _OBJECT}, []),
    "alias": _message("alias", {"previousId": _ID}, ["userId", "previousId"]),
}

_BATCH = {
    "type": "object",
    "title": "batch",
    "properties": {
        "batch": {
            "type": "array",
            "items": {"oneOf": [{"$ref": f"#/components/schemas/{k}Call"} for k in MESSAGES]},
        },
        "context": _OBJECT,
        "sentAt": _TIME,
        "writeKey": {"type": "string"},
    },
    "required": ["batch"],
}

_ACCEPTED = {
    "description": "Stored (or a repeat of a messageId: nothing new stored).",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"success": {"type": "boolean", "const": True}},
                "required": ["success"],
            }
        }
    },
}


def _refused(why: str) -> dict[str, Any]:
    return {
        "description": why,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
    }


def _operation(kind: str, body_ref: str, limit: int) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"events_{kind}",
            "summary": f"Segment {kind}",
            "tags": ["events"],
            "security": [{"WriteKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": body_ref}}},
            },
            "responses": {
                200: _ACCEPTED,
                400: _refused("Bad input, naming the field (and the message's index)."),
                401: _refused("No live write key."),
                413: _refused(f"Larger than {limit // 1024} KB."),
                503: _refused("The database is briefly away; retry after Retry-After."),
            },
        }
    }


def event_api_openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The event API's paths and the schemas they use, for the OpenAPI document."""
    paths = {
        f"/api/v1/{kind}": _operation(kind, f"#/components/schemas/{kind}Call", MAX_EVENT_BYTES)
        for kind in MESSAGES
    }
    paths["/api/v1/batch"] = _operation("batch", "#/components/schemas/Batch", MAX_BATCH_BYTES)
    schemas = {f"{kind}Call": schema for kind, schema in MESSAGES.items()}
    schemas["Batch"] = _BATCH
    return paths, schemas
