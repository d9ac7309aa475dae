"""What the customer's pages share: their language, the page itself, the limits."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from core.errors import DomainError
from core.http import client_ip, customer_page
from core.ratelimit import ip_bucket, rate_limit_hit
from profiles.models import Profile

from ..models import Category, Topic


def language_activate(request: HttpRequest, profile: Profile | None = None) -> str:
    """The customer's language on a token page; else ?lang=, else the browser's."""
    if profile is not None:
        language = profile.language
    elif request.GET.get("lang") in ("nl", "en"):
        language = request.GET["lang"]
    else:
        language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)[:2]
        language = language if language in ("nl", "en") else settings.LANGUAGE_CODE
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language


page = customer_page


def public_topics():  # type: ignore[no-untyped-def]
    return Topic.objects.filter(public=True, category=Category.COMMERCIAL)


def over_ip_limit(request: HttpRequest, what: str) -> bool:
    limit, window = settings.RATE_LIMIT_FORM_PER_IP
    return rate_limit_hit(f"{what}:ip:{ip_bucket(client_ip(request))}", limit=limit, window=window)


def refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refusal of the domain (core.errors) as the customer sees it: the message page in
    their language, its state the refusal's code (rate_limited, invalid …), its status."""
    response = page(request, "consent/message.html", {"state": exc.code}, status=exc.status)
    for name, value in exc.headers().items():
        response[name] = value
    return response
