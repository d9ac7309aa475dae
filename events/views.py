"""Segment's HTTP tracking API: /api/v1/identify, track, page, screen, group, alias, batch.

Plain views rather than the ninja API: they must read gzip bodies, refuse oversize ones
before parsing (413), and take the write key as HTTP basic username or as `writeKey`.
"""

import base64
import binascii
import zlib
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.apikeys import api_key_check
from core.errors import DomainError
from core.http import refusal_json
from core.models import ApiKey

from .ingest import events_ingest
from .segment import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    BadMessage,
    loads,
    message_parse,
    parse_time,
)


def _refusal(exc: DomainError) -> JsonResponse:
    """`code` and `message` as Segment answers (its libraries read them); `error`,
    `detail` and `errors` as the rest of Klantbeeld's API (core.http.refusal_json)."""
    return refusal_json(exc, extra={"success": False, "code": exc.code, "message": exc.detail()})


class _Unauthorized(DomainError):
    status = 401
    default_code = "unauthorized"

    def __init__(self) -> None:
        super().__init__(message="A valid write key is required.")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="klantbeeld"'}


def _body(request: HttpRequest, limit: int) -> bytes:
    """The request body, gunzipped when sent so; BadMessage(too_large) past `limit`."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    gzipped = "gzip" in request.headers.get("Content-Encoding", "").lower()
    if not gzipped and declared.isdigit() and int(declared) > limit:
        raise BadMessage(f"at most {limit // 1024} KB", field="body", too_large=True)
    # Compressed, a body that fits is smaller still (give or take gzip's own header).
    raw = request.read(limit + (1024 if gzipped else 0) + 1)
    if len(raw) > limit + (1024 if gzipped else 0):
        raise BadMessage(f"at most {limit // 1024} KB", field="body", too_large=True)
    if gzipped:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise BadMessage("the body is not valid gzip", field="body") from None
    if len(raw) > limit:
        raise BadMessage(f"at most {limit // 1024} KB", field="body", too_large=True)
    return raw


def _write_key(request: HttpRequest, body: dict[str, Any]) -> ApiKey | None:
    header = request.headers.get("Authorization", "")
    key = None
    if header.lower().startswith("basic "):
        try:
            key = base64.b64decode(header[6:].strip()).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = None
    key = key or (body.get("writeKey") if isinstance(body.get("writeKey"), str) else None)
    return api_key_check(key, kind=ApiKey.Kind.WRITE)


@csrf_exempt  # a server-to-server API, authenticated by its write key
@require_POST
def track_api(request: HttpRequest, kind: str) -> JsonResponse:
    received_at = timezone.now()
    limit = MAX_BATCH_BYTES if kind == "batch" else MAX_EVENT_BYTES
    try:
        raw = _body(request, limit)
        try:
            body = loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadMessage("not JSON", field="body") from None
        if not isinstance(body, dict):
            raise BadMessage("not an object", field="body")
        if _write_key(request, body) is None:
            raise _Unauthorized
        if kind == "batch":
            batch = body.get("batch")
            if not isinstance(batch, list):
                raise BadMessage("must be a list of messages", field="batch")
            sent_at = parse_time(body.get("sentAt"), field_name="sentAt", index=None)
            context = body.get("context") if isinstance(body.get("context"), dict) else None
            messages = [
                message_parse(
                    raw_message,
                    index=index,
                    received_at=received_at,
                    batch_sent_at=sent_at,
                    batch_context=context,
                )
                for index, raw_message in enumerate(batch)
            ]
        else:
            messages = [
                message_parse(body, index=None, received_at=received_at, expected_type=kind)
            ]
        events_ingest(messages=messages, received_at=received_at)
    except DomainError as exc:
        return _refusal(exc)
    return JsonResponse({"success": True})
