from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import DomainError
from .mail import mail_defaults


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's IP address. Behind N trusted proxies (TRUSTED_PROXY_COUNT) it is the
    N-th address from the right of X-Forwarded-For; otherwise REMOTE_ADDR, since any
    client can write X-Forwarded-For."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:500]


def customer_page(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    """A page a customer reaches (often with a token): rendered in the active language,
    with what every mail's footer shows, and never kept in a shared cache."""
    from django.shortcuts import render
    from django.utils import translation

    language = translation.get_language()
    response = render(request, template, {**mail_defaults(language), **context}, status=status)
    response["Content-Language"] = language
    # Pages reached with a customer's token show their data: never in a shared cache.
    response["Cache-Control"] = "private, no-store"
    # Stricter than the site's policy (settings.CONTENT_SECURITY_POLICY): no inline style,
    # no frame of any kind.
    response._csp_replace = {"style-src": ["'self'"], "frame-src": ["'none'"]}  # type: ignore[attr-defined]
    return response


def refusal_json(exc: DomainError, *, extra: dict[str, Any] | None = None) -> JsonResponse:
    """A domain refusal as the API's JSON ({"error", "detail", "errors"}), with its status
    and headers; `extra` adds keys (the event API adds Segment's own)."""
    response = JsonResponse({**(extra or {}), **exc.body()}, status=exc.status)
    for name, value in exc.headers().items():
        response[name] = value
    return response
