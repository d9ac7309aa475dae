"""Customer-facing pages of the address change. A GET never changes anything (mail
scanners follow links); the customer presses the button, which POSTs."""

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.views.decorators.http import require_http_methods

from core.http import customer_page

from . import services

RESULT = "profiles/email_change_result.html"


def _page(request: HttpRequest, token: str, *, kind: str) -> HttpResponse:
    try:
        change = services.email_change_lookup(token=token, kind=kind)
    except services.EmailChangeError:
        return customer_page(request, RESULT, {"state": "invalid"}, status=404)
    translation.activate(change.profile.language)
    request.LANGUAGE_CODE = change.profile.language
    context = {"change": change, "new_email": change.new_email, "kind": kind}
    now = timezone.now()
    if request.method == "POST":
        action = (
            services.email_change_confirm if kind == "confirm" else services.email_change_cancel
        )
        try:
            action(token=token, now=now)
        except services.EmailChangeError as exc:
            return customer_page(request, RESULT, {**context, "state": exc.code})
        return customer_page(request, RESULT, {**context, "state": f"{kind}_done"})
    state = services.email_change_state(change, now=now)
    if state == "open":
        return customer_page(request, "profiles/email_change_ask.html", context)
    if kind == "cancel" and state in ("cancelled", "expired"):
        state = "cancel_done"
    return customer_page(request, RESULT, {**context, "state": state})


@require_http_methods(["GET", "POST"])
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    return _page(request, token, kind="confirm")


@require_http_methods(["GET", "POST"])
def email_change_cancel(request: HttpRequest, token: str) -> HttpResponse:
    return _page(request, token, kind="cancel")
