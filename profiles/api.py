"""Management API for the master list: read, export and erase a customer."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router

from core.api_auth import admin_token

from .models import ChangeSource, Profile
from .selectors import profile_as_dict, profile_export
from .services import profile_erase
from .validation import user_id_clean

router = Router(auth=admin_token, tags=["profiles"])


def _profile(user_id: str) -> Profile:
    try:
        user_id_clean(user_id)
    except ValidationError:
        raise Http404 from None  # no customer has such a key (and a NUL would upset the DB)
    return get_object_or_404(Profile, user_id=user_id, erased_at=None)


@router.get("/profiles/{user_id}", summary="A customer with their consent per topic")
def profile_get(request: HttpRequest, user_id: str) -> dict[str, Any]:
    return profile_as_dict(_profile(user_id))


@router.get(
    "/profiles/{user_id}/export",
    summary="Everything held on the person (GDPR art. 15/20)",
)
def profile_export_get(request: HttpRequest, user_id: str) -> dict[str, Any]:
    return profile_export(_profile(user_id))


@router.delete("/profiles/{user_id}", summary="Erase the person (GDPR art. 17)")
def profile_delete(request: HttpRequest, user_id: str) -> dict[str, Any]:
    profile = profile_erase(profile=_profile(user_id), now=timezone.now(), source=ChangeSource.API)
    return {"user_id": user_id, "erased": True, "erased_at": profile.erased_at.isoformat()}  # type: ignore[union-attr]
