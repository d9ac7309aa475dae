"""Double opt-in: a request, one confirmation mail, a single-use link, a button."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.queue import task_queue
from core.ratelimit import RateLimited, rate_limit_hit
from core.tokens import token_from_nonce, token_hash, token_nonce
from profiles.models import ChangeSource, Profile
from profiles.services import OWN_KEY_PREFIX, profile_create, profile_update
from profiles.validation import email_normalise, language_normalise, user_id_clean

from ..links import OPT_IN_TOKEN_PURPOSE
from ..models import (
    Action,
    Basis,
    Category,
    OptInRequest,
    OptInRequestTopic,
    Source,
    Status,
    SuppressionReason,
    Topic,
)
from ..selectors import state_get, suppression_active, suppressions_active
from .ledger import ledger_append, profile_lock
from .suppression import suppression_lift

# An explicit new double opt-in lifts these; a hard bounce and a staff decision stay.
LIFTED_BY_OPT_IN = (
    SuppressionReason.UNSUBSCRIBED_ALL,
    SuppressionReason.ERASED,
    SuppressionReason.COMPLAINT,
)


class UndeliverableAddress(ValidationError):
    """The address hard-bounced: a confirmation mail could not arrive. The shop's API is
    told; the public form answers as if it worked (it must not reveal who is known)."""


@dataclass
class SubscriptionOutcome:
    profile: Profile
    pending: list[Topic] = field(default_factory=list)  # a confirmation mail went out for these
    already: list[Topic] = field(default_factory=list)  # confirmed before; nothing to do
    request: OptInRequest | None = None


def _subscriber(
    *,
    email: str | None,
    user_id: str | None,
    first_name: str,
    language: str | None,
    source: str,
    now: dt.datetime,
) -> Profile:
    """The profile a subscription is for, creating it when the address is new."""
    data: dict[str, str] = {}
    if first_name:
        data["first_name"] = first_name
    if language:
        data["language"] = language
    change_source = ChangeSource.API if source == Source.API else ChangeSource.CUSTOMER
    if user_id:
        profile = Profile.objects.filter(user_id=user_id, erased_at=None).first()
        if profile is None:
            if not email:
                raise ValidationError(
                    {"email": _("An email address is required for a new customer.")}
                )
            return profile_create(
                user_id=user_id, data={"email": email, **data}, source=change_source, now=now
            )
        if email and email != profile.email:
            # The shop's own system is trusted: its address for the customer applies.
            profile_update(profile=profile, data={"email": email}, source=change_source, now=now)
        return profile
    if not email:
        raise ValidationError({"email": _("An email address is required.")})
    profile = Profile.objects.filter(email__lower=email, erased_at=None).first()
    if profile is None:
        # Someone who subscribed without being a customer of the shop: a key of our own
        # until the shop's system tells us theirs.
        profile = profile_create(
            user_id=f"{OWN_KEY_PREFIX}{uuid.uuid4().hex[:16]}",
            data={"email": email, **data},
            source=change_source,
            now=now,
        )
    return profile


def _commercial(topics: Iterable[Topic]) -> list[Topic]:
    topics = list(topics)
    if not topics:
        raise ValidationError({"topic": _("Choose at least one topic.")})
    for topic in topics:
        if topic.category != Category.COMMERCIAL:
            raise ValidationError(
                {"topic": _("“%(topic)s” needs no subscription.") % {"topic": topic.key}}
            )
    return topics


@transaction.atomic
def subscription_request(
    *,
    topics: Sequence[Topic],
    source: str,
    now: dt.datetime,
    email: str | None = None,
    user_id: str | None = None,
    profile: Profile | None = None,
    first_name: str = "",
    language: str | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> SubscriptionOutcome:
    """Start a double opt-in: one confirmation mail, in the customer's language, for the
    topics not yet confirmed by the customer themselves.

    Refuses a non-commercial topic, a bad address, an address that hard-bounced
    (UndeliverableAddress) and, with RateLimited, a fourth request for one address within
    the hour. Nothing changes for a topic until its confirmation (a re-subscription after
    a withdrawal needs one too).
    """
    topics = _commercial(topics)
    if user_id:
        user_id = user_id_clean(user_id)
    if email is not None:
        try:
            email = email_normalise(email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None
    if language:
        try:
            language = language_normalise(language)
        except ValidationError as exc:
            raise ValidationError({"language": exc.messages}) from None
    if profile is None:
        profile = _subscriber(
            email=email,
            user_id=user_id,
            first_name=first_name,
            language=language,
            source=source,
            now=now,
        )
    profile_lock(profile)
    outcome = SubscriptionOutcome(profile=profile)
    for topic in topics:
        state = state_get(profile, topic)
        if state and state.status == Status.CONFIRMED and state.basis == Basis.DOUBLE_OPT_IN:
            outcome.already.append(topic)
        else:
            outcome.pending.append(topic)
    if not outcome.pending:
        return outcome
    suppression = suppression_active(profile)
    if suppression and suppression.reason == SuppressionReason.HARD_BOUNCE:
        raise UndeliverableAddress({"email": _("Mail to this address cannot be delivered.")})
    limit, window = settings.RATE_LIMIT_OPT_IN_PER_ADDRESS
    if rate_limit_hit(f"opt-in:{profile.email}", limit=limit, window=window):
        raise RateLimited("opt-in")

    nonce = token_nonce()
    request = OptInRequest.objects.create(
        profile=profile,
        nonce=nonce,
        token_hash=token_hash(token_from_nonce(nonce, OPT_IN_TOKEN_PURPOSE)),
        requested_at=now,
        expires_at=now + dt.timedelta(days=settings.OPT_IN_TTL_DAYS),
        source=source,
        language=language or profile.language,
    )
    for topic in outcome.pending:
        OptInRequestTopic.objects.create(
            request=request, topic=topic, consent_text_id=topic.current_text_id
        )
        ledger_append(
            profile=profile,
            topic=topic,
            action=Action.REQUESTED,
            now=now,
            source=source,
            ip=ip,
            user_agent=user_agent,
            consent_text_id=topic.current_text_id,
        )
    task_queue("consent.tasks.send_opt_in_mail", request.pk)
    outcome.request = request
    return outcome


class OptInError(DomainError):
    """Why a confirmation link cannot be used: invalid, already_confirmed or expired."""

    def __init__(self, code: str, request: OptInRequest | None = None) -> None:
        super().__init__(code, status=404 if code == "invalid" else 400)
        self.request = request


def opt_in_lookup(*, token: str, lock: bool = False) -> OptInRequest:
    requests = OptInRequest.objects.select_related("profile").filter(token_hash=token_hash(token))
    request = (requests.select_for_update() if lock else requests).first()
    if request is None or request.profile.erased_at:
        raise OptInError("invalid")
    return request


def opt_in_state(request: OptInRequest, *, now: dt.datetime) -> str:
    """open, already_confirmed or expired (run out, or closed by a later withdrawal)."""
    if request.confirmed_at:
        return "already_confirmed"
    if request.expired_at or now >= request.expires_at:
        return "expired"
    return "open"


@transaction.atomic
def subscription_confirm(
    *, token: str, now: dt.datetime, ip: str | None = None, user_agent: str = ""
) -> OptInRequest:
    """The customer pressed "confirm": record the permission for each topic of the request,
    with the consent text they were shown, their IP and user agent. Single use.

    Lifts an "unsubscribed from everything", "complaint" or "erased" suppression of the
    address: this is a new, explicit permission. Raises OptInError otherwise.
    """
    request = opt_in_lookup(token=token, lock=True)
    profile = profile_lock(request.profile)
    state = opt_in_state(request, now=now)
    if state != "open":
        raise OptInError(state, request)
    for item in request.items.select_related("topic"):
        ledger_append(
            profile=profile,
            topic=item.topic,
            action=Action.CONFIRMED,
            now=now,
            source=request.source,
            ip=ip,
            user_agent=user_agent,
            consent_text_id=item.consent_text_id,
            note="confirmed with the link in the mail",
        )
    request.confirmed_at = now
    request.save(update_fields=["confirmed_at"])
    for suppression in suppressions_active(profile).filter(reason__in=LIFTED_BY_OPT_IN):
        suppression_lift(suppression=suppression, now=now, because="double opt-in confirmed")
    return request


def opt_in_resend(
    *, token: str, now: dt.datetime, ip: str | None = None, user_agent: str = ""
) -> SubscriptionOutcome:
    """An expired link asks for a fresh mail for the same topics (rate-limited)."""
    request = opt_in_lookup(token=token)
    if request.confirmed_at:
        raise OptInError("already_confirmed", request)
    return subscription_request(
        topics=[item.topic for item in request.items.select_related("topic")],
        source=request.source,
        now=now,
        profile=request.profile,
        language=request.language,
        ip=ip,
        user_agent=user_agent,
    )


def opt_ins_close(*, profile: Profile, topics: Iterable[Topic], now: dt.datetime) -> int:
    """A "no" closes the open confirmation links of those topics: a link mailed before the
    customer withdrew must not make them subscribed again."""
    return (
        OptInRequest.objects.filter(
            profile=profile, confirmed_at=None, expired_at=None, items__topic__in=list(topics)
        )
        .distinct()
        .update(expired_at=now)
    )


def opt_ins_expire(*, now: dt.datetime, batch: int = 1000) -> int:
    """Record "expired" for permissions whose confirmation link ran out unused; returns the
    number of requests handled. Idempotent: each request is handled once."""
    handled = 0
    while True:
        with transaction.atomic():
            requests = list(
                OptInRequest.objects.select_for_update(skip_locked=True)
                .filter(confirmed_at=None, expired_at=None, expires_at__lte=now)
                .select_related("profile")[:batch]
            )
            if not requests:
                return handled
            for request in requests:
                for item in request.items.select_related("topic"):
                    state = state_get(request.profile, item.topic)
                    newer = (
                        state and state.requested_at and state.requested_at > request.requested_at
                    )
                    if state and state.status == Status.PENDING and not newer:
                        ledger_append(
                            profile=request.profile,
                            topic=item.topic,
                            action=Action.EXPIRED,
                            now=now,
                            source=Source.SYSTEM,
                            note="confirmation link expired",
                        )
                request.expired_at = now
                request.save(update_fields=["expired_at"])
            handled += len(requests)
