"""Authentication for the management API: a bearer admin token, never a write key."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from .apikeys import api_key_check
from .models import ApiKey


class AdminToken(HttpBearer):
    openapi_description = "An admin token (`manage.py create_api_key NAME --kind admin`)."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return api_key_check(token, kind=ApiKey.Kind.ADMIN)


admin_token = AdminToken()
