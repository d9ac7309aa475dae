"""Management API of the campaign app: a customer's propositions, for the shop's own
order confirmation mail."""

from typing import Any

from django.http import HttpRequest
from ninja import Router

from core.api_auth import admin_token
from profiles.api import _profile

from .propositions import propositions_for

router = Router(auth=admin_token, tags=["campaigns"])


@router.get(
    "/profiles/{user_id}/propositions",
    summary="What to offer this customer next (the product/proposition matrix)",
)
def propositions_get(request: HttpRequest, user_id: str, language: str = "") -> dict[str, Any]:
    """Best first, for everything the customer bought, leaving out what they already
    have; the fallback proposition when nothing in the matrix fits. `language` (nl or
    en) defaults to the customer's own."""
    profile = _profile(user_id)
    shown_in = language if language in ("nl", "en") else profile.language or "nl"
    return {
        "user_id": profile.user_id,
        "language": shown_in,
        "propositions": [offer.shown(shown_in) for offer in propositions_for(profile)],
    }
