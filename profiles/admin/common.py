"""What every admin of Klantbeeld shares."""

from django.contrib.auth.models import User
from django.http import (
    HttpRequest,
)


def staff_user(request: HttpRequest) -> User:
    """The logged-in staff member (admin views are only reached when logged in)."""
    assert isinstance(request.user, User)  # noqa: S101 - admin_view guarantees it
    return request.user
