"""Middleware of the project's own."""

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from .errors import DomainError
from .http import refusal_json


class Unavailable(DomainError):
    """The database cannot be reached (restarting, failing over): try again shortly."""

    status = 503
    default_code = "unavailable"
    retry_after = 30

    def __init__(self) -> None:
        super().__init__(message="The service is briefly unavailable; try again shortly.")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ApiUnavailable:
    """An API call that meets a database that is away is answered as the API documents
    its refusals — JSON, 503, Retry-After — not with the HTML error page: Segment's and
    RudderStack's libraries retry a 503 after the time it names."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        refusal = Unavailable()
        return refusal_json(
            refusal, extra={"success": False, "code": refusal.code, "message": refusal.detail()}
        )
