"""The site's front door and the privacy statement."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from ..selectors import privacy_statement
from .common import language_activate, page


@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    """The site's root: where a customer can subscribe or find their preferences, and
    where staff log in. Says nothing about any customer."""
    language_activate(request)
    return page(request, "consent/home.html", {"language_switch": True})


@require_http_methods(["GET"])
def privacy(request: HttpRequest) -> HttpResponse:
    language = language_activate(request)
    statement = privacy_statement()
    body = ""
    if statement:
        body = statement.body_en if language == "en" else statement.body_nl
    return page(
        request,
        "consent/privacy.html",
        {
            "statement": statement,
            "paragraphs": [p for p in body.split("\n\n") if p.strip()],
            "language_switch": True,
        },
    )
