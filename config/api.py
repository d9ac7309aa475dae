"""The HTTP API under /api/v1/: one NinjaAPI, routers from the apps, one error format.

Every refusal is JSON: {"error": <code>, "detail": <text>, "errors": [{"field", "message"}]}
with 400 for bad input (naming the field), 401 for a bad key, 404, 413, 429.
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from core.errors import DomainError
from events.openapi import event_api_openapi

# Every refusal, as every endpoint answers it (core.errors.DomainError.body()).
REFUSAL = {
    "type": "object",
    "title": "Refusal",
    "properties": {
        "error": {"type": "string", "description": "what it is, for programs"},
        "detail": {"type": "string", "description": "what it says, for people"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "index": {"type": "integer"},
                },
            },
        },
    },
    "required": ["error", "detail"],
}
# The refusals an operation of the management API may answer, declared for each.
_REFUSALS = {
    400: "Bad input, naming the field.",
    401: "No valid admin token.",
    404: "No such customer (or report).",
    429: "Too many requests for this address; retry after Retry-After.",
    503: "The database is briefly away; retry after Retry-After.",
}


class KlantbeeldAPI(NinjaAPI):
    """ninja's API, whose OpenAPI document also declares every refusal an operation may
    answer and describes the event API (events/openapi.py), so the whole interface can be
    read, and fuzzed, from one document."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Refusal"] = REFUSAL
        refused = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, why in _REFUSALS.items():
                    if status == 401 and not operation.get("security"):
                        continue
                    operation["responses"].setdefault(
                        status, {"description": why, "content": refused}
                    )
        paths, schemas = event_api_openapi()
        schema["paths"].update(paths)
        components["schemas"].update(schemas)
        components.setdefault("securitySchemes", {})["WriteKey"] = {
            "type": "http",
            "scheme": "basic",
            "description": "A write key as the username, the password empty "
            "(or `writeKey` in the body). It can only write.",
        }
        return schema


api = KlantbeeldAPI(
    title="Klantbeeld API",
    version="1",
    description=(
        "The event API (Segment's HTTP tracking API: a write key as basic auth) and the "
        "management API (Authorization: Bearer <admin token>). Times are ISO-8601 in UTC. "
        "Every refusal is JSON: {error, detail, errors}."
    ),
    urls_namespace="api",
)


def error(
    request: HttpRequest,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return api.create_response(request, body, status=status)


def _field(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path")]
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def _invalid_schema(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors]
    fields = ", ".join(e["field"] for e in errors)
    return error(request, 400, "invalid", f"Invalid input: {fields}", errors)


@api.exception_handler(DjangoValidationError)
def _invalid_value(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": name, "message": message}
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": "body", "message": message} for message in exc.messages]
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return error(request, 400, "invalid", f"Invalid input: {fields}", errors)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(request, 401, "unauthorized", "A valid admin token is required.")
    response["WWW-Authenticate"] = 'Bearer realm="klantbeeld"'
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", "Not found.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "invalid", 404: "not_found", 413: "too_large"}.get(exc.status_code, "error")
    errors = [{"field": "body", "message": str(exc)}] if exc.status_code == 400 else None
    return error(request, exc.status_code, code, str(exc), errors)


@api.exception_handler(DomainError)
def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """Every refusal of the domain (core.errors), answered one way: its status, code,
    message, fields and headers (Retry-After for too many requests)."""
    response = error(request, exc.status, exc.code, exc.detail(), exc.errors() or None)
    for name, value in exc.headers().items():
        response[name] = value
    return response


def _register() -> None:
    from campaigns.api import router as campaigns_router
    from consent.api import router as consent_router
    from profiles.api import router as profiles_router
    from surveys.api import router as surveys_router

    api.add_router("/", profiles_router)
    api.add_router("/", consent_router)
    api.add_router("/", campaigns_router)
    api.add_router("/", surveys_router)


_register()
