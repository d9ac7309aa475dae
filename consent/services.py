"""Writes of the consent domain: the ledger, double opt-in, withdrawal, suppression,
preferences, and the consent side of erasure.

The ledger is append-only; every write that changes a permission goes through
`ledger_append`, which keeps the derived ConsentState in step in the same transaction.
"""

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from core.ratelimit import RateLimited, rate_limit_hit
from core.tokens import token_hash
from profiles.models import ChangeSource, Profile
from profiles.services import OWN_KEY_PREFIX, profile_create, profile_update
from profiles.validation import email_normalise, language_normalise

from .models import (
    Action,
    Basis,
    Category,
    ConsentEvent,
    ConsentState,
    ConsentText,
    ContactPreference,
    Frequency,
    LedgerPermit,
    OptInRequest,
    OptInRequestTopic,
    Source,
    Status,
    Suppression,
    SuppressionReason,
    Topic,
)
from .tasks import send_opt_in_mail

# An explicit new double opt-in lifts these; a hard bounce and a staff decision stay.
LIFTED_BY_OPT_IN = (
    SuppressionReason.UNSUBSCRIBED_ALL,
    SuppressionReason.ERASED,
    SuppressionReason.COMPLAINT,
)


def address_hash(email: str) -> str:
    """The keyed hash (HMAC-SHA256) by which suppression knows an address."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


# --- The ledger ---------------------------------------------------------------------------


def state_fold(state: ConsentState, event: ConsentEvent) -> None:
    """Apply one ledger event to a state. The only place the rules of the state live, used
    both when appending and when rebuilding a state from the whole ledger."""
    action, at = event.action, event.occurred_at
    if action == Action.REQUESTED:
        if state.status != Status.CONFIRMED:
            state.status = Status.PENDING
        state.requested_at = at
    elif action == Action.CONFIRMED:
        state.status, state.basis = Status.CONFIRMED, Basis.DOUBLE_OPT_IN
        state.confirmed_at, state.withdrawn_at = at, None
        state.consent_text_id = event.consent_text_id
    elif action == Action.SOFT_OPT_IN:
        if state.status in (Status.NONE, Status.PENDING):
            state.status, state.basis = Status.CONFIRMED, Basis.SOFT_OPT_IN
            state.confirmed_at = at
            state.consent_text_id = event.consent_text_id
    elif action == Action.WITHDRAWN:
        state.status, state.basis, state.withdrawn_at = Status.WITHDRAWN, "", at
    elif action == Action.EXPIRED and state.status == Status.PENDING:
        state.status = Status.WITHDRAWN if state.withdrawn_at else Status.NONE
    state.updated_at = at


@transaction.atomic
def ledger_append(
    *,
    profile: Profile,
    topic: Topic,
    action: str,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    consent_text_id: int | None = None,
    actor: User | None = None,
    note: str = "",
) -> ConsentEvent:
    """Record what happened to a permission and bring its current state in step."""
    event = ConsentEvent.objects.create(
        profile=profile,
        topic=topic,
        action=action,
        occurred_at=now,
        source=source,
        email=profile.email,
        ip=ip or None,
        user_agent=user_agent[:500],
        consent_text_id=consent_text_id,
        actor=actor,
        note=note[:200],
    )
    state = ConsentState.objects.select_for_update().filter(
        profile=profile, topic=topic
    ).first() or ConsentState(profile=profile, topic=topic, updated_at=now)
    state_fold(state, event)
    state.save()
    return event


def state_rebuild(*, profile: Profile, topic: Topic) -> ConsentState:
    """The state as the ledger alone says it is (unsaved): the check on ConsentState."""
    state = ConsentState(profile=profile, topic=topic, status=Status.NONE)
    events = ConsentEvent.objects.filter(profile=profile, topic=topic).order_by("occurred_at", "id")
    for event in events:
        state_fold(state, event)
    return state


def _state(profile: Profile, topic: Topic) -> ConsentState | None:
    return ConsentState.objects.filter(profile=profile, topic=topic).first()


# --- Double opt-in ------------------------------------------------------------------------


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

    Refuses a non-commercial topic, a bad address, an address that hard-bounced (the mail
    could not arrive) and, with RateLimited, a fourth request for one address within the
    hour. Nothing changes for a topic until its confirmation (a re-subscription after a
    withdrawal needs one too).
    """
    topics = _commercial(topics)
    if email is not None:
        try:
            email = email_normalise(email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None
    if language:
        language = language_normalise(language)
    if profile is None:
        profile = _subscriber(
            email=email,
            user_id=user_id,
            first_name=first_name,
            language=language,
            source=source,
            now=now,
        )
    outcome = SubscriptionOutcome(profile=profile)
    for topic in topics:
        state = _state(profile, topic)
        if state and state.status == Status.CONFIRMED and state.basis == Basis.DOUBLE_OPT_IN:
            outcome.already.append(topic)
        else:
            outcome.pending.append(topic)
    if not outcome.pending:
        return outcome
    suppression = suppression_active(profile)
    if suppression and suppression.reason == SuppressionReason.HARD_BOUNCE:
        raise ValidationError({"email": _("Mail to this address cannot be delivered.")})
    limit, window = settings.RATE_LIMIT_OPT_IN_PER_ADDRESS
    if rate_limit_hit(f"opt-in:{profile.email}", limit=limit, window=window):
        raise RateLimited("opt-in")

    request = OptInRequest.objects.create(
        profile=profile,
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
    send_opt_in_mail.delay_on_commit(request.pk)
    outcome.request = request
    return outcome


class OptInError(Exception):
    """Why a confirmation link cannot be used: invalid, already_confirmed or expired."""

    def __init__(self, code: str, request: OptInRequest | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.request = request


def opt_in_lookup(*, token: str) -> OptInRequest:
    request = (
        OptInRequest.objects.select_related("profile").filter(token_hash=token_hash(token)).first()
    )
    if request is None or request.profile.erased_at:
        raise OptInError("invalid")
    return request


def opt_in_state(request: OptInRequest, *, now: dt.datetime) -> str:
    if request.confirmed_at:
        return "already_confirmed"
    if now >= request.expires_at:
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
    request = (
        OptInRequest.objects.select_for_update()
        .select_related("profile")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if request is None or request.profile.erased_at:
        raise OptInError("invalid")
    state = opt_in_state(request, now=now)
    if state != "open":
        raise OptInError(state, request)
    profile = request.profile
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
    for suppression in _active_suppressions(profile).filter(reason__in=LIFTED_BY_OPT_IN):
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
                    state = _state(request.profile, item.topic)
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


# --- Withdrawal, soft opt-in --------------------------------------------------------------


@transaction.atomic
def consent_withdraw(
    *,
    profile: Profile,
    topic: Topic,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    actor: User | None = None,
) -> bool:
    """Withdraw a topic (for a service topic: opt out of it). Takes effect at once; a
    second withdrawal changes nothing. Returns whether anything changed."""
    state = _state(profile, topic)
    if state and state.status == Status.WITHDRAWN:
        return False
    if topic.category == Category.TRANSACTIONAL:
        return False  # nothing to withdraw: the customer set these in motion
    ledger_append(
        profile=profile,
        topic=topic,
        action=Action.WITHDRAWN,
        now=now,
        source=source,
        ip=ip,
        user_agent=user_agent,
        actor=actor,
    )
    return True


@transaction.atomic
def unsubscribe_everything(
    *,
    profile: Profile,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """No more commercial or service mail: every topic withdrawn and the customer on the
    do-not-contact list. Transactional mail they set in motion still arrives."""
    for topic in Topic.objects.exclude(category=Category.TRANSACTIONAL):
        consent_withdraw(
            profile=profile, topic=topic, now=now, source=source, ip=ip, user_agent=user_agent
        )
    suppression_add(
        profile=profile,
        reason=SuppressionReason.UNSUBSCRIBED_ALL,
        now=now,
        note=f"via {source}",
    )


@transaction.atomic
def soft_opt_in_grant(
    *, profile: Profile, now: dt.datetime, source: str = Source.ORDER, note: str = ""
) -> list[Topic]:
    """The existing-customer exception after an order where an opt-out was offered: grant
    it for the topics that allow it, unless the customer ever said no (a withdrawal, an
    unsubscribe from everything, a complaint). Returns the topics granted."""
    if profile.erased_at or suppression_active(profile):
        return []
    granted = []
    for topic in Topic.objects.filter(category=Category.COMMERCIAL, soft_opt_in_allowed=True):
        state = _state(profile, topic)
        if state is None or state.status in (Status.NONE, Status.PENDING):
            ledger_append(
                profile=profile,
                topic=topic,
                action=Action.SOFT_OPT_IN,
                now=now,
                source=source,
                consent_text_id=topic.current_text_id,
                note=note or "opt-out offered at checkout",
            )
            granted.append(topic)
    return granted


# --- Suppression --------------------------------------------------------------------------


def _active_suppressions(profile: Profile):  # type: ignore[no-untyped-def]
    # A hard bounce belongs to the address; the others to the person, whatever address
    # they have now.
    return Suppression.objects.filter(lifted_at=None).filter(
        Q(email_hash=address_hash(profile.email))
        | (Q(profile=profile) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
    )


def suppressions_follow_addresses(profiles: list[Profile]) -> None:
    """Keep each suppression's profile link true to who has the address now (registered
    as an address hook), so SQL selections can ask by profile: an erased or bounced
    address that comes back is linked to its new profile; a bounce stays behind with the
    old address when a customer changes theirs. A few queries for any number of profiles
    (an import calls this per chunk)."""
    by_hash = {address_hash(p.email): p for p in profiles}
    for suppression in Suppression.objects.filter(
        email_hash__in=list(by_hash), profile=None, lifted_at=None
    ):
        suppression.profile = by_hash[suppression.email_hash]
        suppression.save(update_fields=["profile"])
    Suppression.objects.filter(
        profile__in=[p.pk for p in profiles if p.pk], reason=SuppressionReason.HARD_BOUNCE
    ).exclude(email_hash__in=list(by_hash)).update(profile=None)


def suppression_active(profile: Profile) -> Suppression | None:
    """The do-not-contact entry that applies to this customer or address, if any (a hard
    bounce first: it also stops transactional mail)."""
    found = list(_active_suppressions(profile))
    found.sort(key=lambda s: s.reason != SuppressionReason.HARD_BOUNCE)
    return found[0] if found else None


@transaction.atomic
def suppression_add(
    *,
    reason: str,
    now: dt.datetime,
    profile: Profile | None = None,
    email: str | None = None,
    note: str = "",
) -> Suppression:
    """Put a customer (or a bare address) on the do-not-contact list; idempotent per reason."""
    if profile is None and not email:
        raise ValueError("a profile or an address is needed")
    digest = address_hash(email or profile.email)  # type: ignore[union-attr]
    existing = Suppression.objects.filter(email_hash=digest, reason=reason, lifted_at=None).first()
    if existing:
        return existing
    return Suppression.objects.create(
        email_hash=digest, profile=profile, reason=reason, created_at=now, note=note[:200]
    )


def suppression_lift(*, suppression: Suppression, now: dt.datetime, because: str) -> None:
    suppression.lifted_at = now
    suppression.lifted_because = because[:200]
    suppression.save(update_fields=["lifted_at", "lifted_because"])


# --- Preferences --------------------------------------------------------------------------


def preferences_update(
    *,
    profile: Profile,
    paused_until: dt.date | None,
    max_frequency: str,
    no_service_mail: bool,
) -> ContactPreference:
    """The customer's own limits: a pause, a stricter frequency, no service mail."""
    if max_frequency not in Frequency.values:
        raise ValidationError({"max_frequency": _("Choose one of the offered frequencies.")})
    preference, _created = ContactPreference.objects.update_or_create(
        profile=profile,
        defaults={
            "paused_until": paused_until,
            "max_frequency": max_frequency,
            "no_service_mail": no_service_mail,
        },
    )
    return preference


# --- Erasure ------------------------------------------------------------------------------


def ledger_scrub(*, profile: Profile) -> int:
    """The one path that may touch ledger rows: blank their personal columns (address, IP,
    user agent, note) for an erased person. The database allows it only while this
    transaction holds a permit for the profile, and refuses any other change."""
    with transaction.atomic():
        permit = LedgerPermit.objects.create(profile_id=profile.pk)
        scrubbed = ConsentEvent.objects.filter(profile=profile).update(
            email="", ip=None, user_agent="", note=""
        )
        permit.delete()
    return scrubbed


def consent_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """The consent app's part of erasure (registered with profiles.registry): scrub the
    ledger, and keep only the keyed hash of the address, the date and the reason."""
    ledger_scrub(profile=profile)
    Suppression.objects.filter(profile=profile).update(profile=None)
    Suppression.objects.create(
        email_hash=address_hash(email),
        profile=None,
        reason=SuppressionReason.ERASED,
        created_at=now,
    )
    ContactPreference.objects.filter(profile=profile).delete()
    OptInRequest.objects.filter(profile=profile).delete()


# --- Topics -------------------------------------------------------------------------------


@transaction.atomic
def topic_text_set(*, topic: Topic, text_nl: str, text_en: str) -> ConsentText:
    """Make this the topic's consent text. An unchanged text stays the same version; a
    changed one becomes a new version, and earlier consents keep pointing at theirs."""
    current = topic.current_text
    if current and current.text_nl == text_nl and current.text_en == text_en:
        return current
    latest = topic.texts.order_by("-version").first()
    text = ConsentText.objects.create(
        topic=topic, version=(latest.version + 1) if latest else 1, text_nl=text_nl, text_en=text_en
    )
    topic.current_text = text
    topic.save(update_fields=["current_text"])
    return text
