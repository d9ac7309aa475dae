"""Management API for consent: start a double opt-in, list the topics."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Router, Schema
from ninja.responses import Status

from core.api_auth import admin_token
from core.http import client_ip, user_agent

from .models import Category, Source, Topic
from .services import subscription_request

router = Router(tags=["consent"])
# What a Topic.key (a SlugField of 50) can hold.
_TOPIC_KEY = re.compile(r"[-a-zA-Z0-9_]{1,50}")


class SubscriptionIn(Schema):
    user_id: str | None = None
    email: str | None = None
    topic: str | None = None
    topics: list[str] | None = None
    first_name: str = ""
    language: str | None = None


@router.post(
    "/subscriptions",
    auth=admin_token,
    response={202: dict[str, Any], 200: dict[str, Any]},
    summary="Start a double opt-in (the customer gets a confirmation mail)",
)
def subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Status[dict[str, Any]]:
    keys = payload.topics or ([payload.topic] if payload.topic else [])
    if not keys:
        raise ValidationError({"topic": "A topic is required."})
    field = "topics" if payload.topics else "topic"
    if not all(_TOPIC_KEY.fullmatch(key) for key in keys):
        # Refused before any query: a NUL or a page of text is no topic key.
        raise ValidationError(
            {field: gettext("A topic key consists of letters, digits, - and _ (at most 50).")}
        )
    topics = list(Topic.objects.filter(key__in=keys))
    unknown = sorted(set(keys) - {t.key for t in topics})
    if unknown:
        raise ValidationError({field: f"Unknown topic: {', '.join(unknown)}."})
    if not payload.user_id and not payload.email:
        raise ValidationError({"user_id": "A user_id or an email is required."})
    # The shop's server is not throttled by IP; the per-address limit still applies.
    outcome = subscription_request(
        topics=topics,
        source=Source.API,
        now=timezone.now(),
        email=payload.email,
        user_id=payload.user_id,
        first_name=payload.first_name,
        language=payload.language,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    body = {
        "user_id": outcome.profile.user_id,
        "status": "pending" if outcome.pending else "confirmed",
        "pending": [t.key for t in outcome.pending],
        "already_confirmed": [t.key for t in outcome.already],
    }
    return Status(202 if outcome.pending else 200, body)


@router.get("/topics", summary="The topics a customer can choose on the public pages")
def topic_list(request: HttpRequest) -> list[dict[str, Any]]:
    # Unauthenticated: only what the subscribe and preference pages show anyway.
    topics = (
        Topic.objects.filter(public=True)
        .exclude(category=Category.TRANSACTIONAL)
        .select_related("current_text")
    )
    return [
        {
            "key": t.key,
            "name": {"nl": t.name_nl, "en": t.name_en},
            "description": {"nl": t.description_nl, "en": t.description_en},
            "category": t.category,
            "channel": t.channel,
            "double_opt_in": t.category == Category.COMMERCIAL,
            "soft_opt_in_allowed": t.soft_opt_in_allowed,
            "consent_text_version": t.current_text.version if t.current_text else None,
        }
        for t in topics
    ]
