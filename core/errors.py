"""One error hierarchy for Klantbeeld's domain.

A `DomainError` is a refusal a person can read, not a bug: a bad message on the event
API, a confirmation link that expired, too many attempts. It carries

- `code`: what it is, for programs (stable snake_case: the API's "error", a page's state);
- `message`: what it says to a person (the API's "detail");
- `field`: the input at fault, when there is one;
- `status`: the HTTP status it is answered with.

It is turned into an answer in one place per surface: `config.api` for the management
API, `core.http.refusal_json` for the event API, and each app's customer pages through
their one page for a refusal (`core.http.refusal_page`). What a caller must handle
differently (an expired link offers a new one) it catches by class.
"""

from typing import Any


class DomainError(Exception):
    status: int = 400
    default_code: str = "invalid"

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        *,
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.code
        self.field = field
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def detail(self) -> str:
        """The one line a person reads (the API's "detail")."""
        return self.message

    def errors(self) -> list[dict[str, Any]]:
        """The fields at fault, as the API lists them."""
        return [{"field": self.field, "message": self.message}] if self.field is not None else []

    def body(self) -> dict[str, Any]:
        """The API's JSON refusal: {"error", "detail", "errors"}."""
        body: dict[str, Any] = {"error": self.code, "detail": self.detail()}
        if errors := self.errors():
            body["errors"] = errors
        return body

    def headers(self) -> dict[str, str]:
        """Headers the answer carries (Retry-After, WWW-Authenticate …)."""
        return {}
