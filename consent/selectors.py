"""Reads of the consent domain; above all `send_permission`, which every send path asks."""

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from core.clock import customer_local
from profiles.models import Profile
from profiles.registry import TimelineItem
from profiles.validation import email_canonical

from .models import (
    Basis,
    Category,
    ConsentEvent,
    ConsentState,
    ContactPreference,
    PrivacyStatement,
    Status,
    Suppression,
    SuppressionReason,
    Topic,
)


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = (
        ""  # why not: erased, suppressed:<reason>, paused, no_service_mail, withdrawn, no_consent
    )
    basis: str = ""  # for commercial mail: double_opt_in or soft_opt_in


def send_permission(*, profile: Profile, topic: Topic, now: dt.datetime) -> Permission:
    """May we send this customer a mail under this topic, now? (permission_decide, with
    what it needs read for this one customer.)"""
    if profile.erased_at:
        return Permission(False, "erased")
    return permission_decide(
        profile=profile,
        topic=topic,
        now=now,
        suppression=suppression_active(profile),
        preference=ContactPreference.objects.filter(profile=profile).first(),
        state=ConsentState.objects.filter(profile=profile, topic=topic).first(),
    )


def permission_decide(
    *,
    profile: Profile,
    topic: Topic,
    now: dt.datetime,
    suppression: Suppression | None,
    preference: ContactPreference | None,
    state: ConsentState | None,
) -> Permission:
    """The one place that says whether a mail may go, from the facts about the customer
    (send_permission reads them for one; the campaign engine for a whole batch at once).

    Transactional: yes, unless the address hard-bounced. Service: also not when the
    customer is on the do-not-contact list, paused mail, turned service mail off or opted
    out of the topic. Commercial: additionally only with a confirmed double opt-in or a
    soft opt-in for the topic.
    """
    if profile.erased_at:
        return Permission(False, "erased")
    if topic.category == Category.TRANSACTIONAL:
        if suppression and suppression.reason == SuppressionReason.HARD_BOUNCE:
            return Permission(False, f"suppressed:{suppression.reason}")
        return Permission(True)
    if suppression:
        return Permission(False, f"suppressed:{suppression.reason}")
    if (
        preference
        and preference.paused_until
        and preference.paused_until >= customer_local(profile.timezone, now).date()
    ):
        return Permission(False, "paused")
    if topic.category == Category.SERVICE:
        if preference and preference.no_service_mail:
            return Permission(False, "no_service_mail")
        if state and state.status == Status.WITHDRAWN:
            return Permission(False, "withdrawn")
        return Permission(True)
    if preference and preference.sunset_at:
        return Permission(False, "sunset")
    if state and state.status == Status.CONFIRMED:
        if state.basis == Basis.SOFT_OPT_IN and not topic.soft_opt_in_allowed:
            # The marketer has since ruled the exception out for this topic.
            return Permission(False, "soft_opt_in_not_allowed")
        return Permission(True, basis=state.basis)
    if state and state.status == Status.WITHDRAWN:
        return Permission(False, "withdrawn")
    return Permission(False, "no_consent")


def profile_consents(profile: Profile) -> list[dict[str, Any]]:
    """The consent state per topic, as the management API shows it (every public topic,
    and any other topic the customer has a record for)."""
    states = {s.topic_id: s for s in ConsentState.objects.filter(profile=profile)}
    topics = Topic.objects.exclude(category=Category.TRANSACTIONAL)
    result = []
    for topic in topics:
        state = states.get(topic.pk)
        if state is None and not topic.public:
            continue
        result.append(
            {
                "topic": topic.key,
                "category": topic.category,
                "status": state.status if state else Status.NONE,
                "basis": (state.basis or None) if state else None,
                "requested_at": _iso(state.requested_at) if state else None,
                "confirmed_at": _iso(state.confirmed_at) if state else None,
                "withdrawn_at": _iso(state.withdrawn_at) if state else None,
            }
        )
    return result


def profile_suppressed(profile: Profile) -> bool:
    return suppression_active(profile) is not None


def consent_ledger_export(profile: Profile) -> list[dict[str, Any]]:
    events = (
        ConsentEvent.objects.filter(profile=profile)
        .select_related("topic", "consent_text")
        .order_by("occurred_at", "id")
    )
    return [
        {
            "topic": e.topic.key,
            "action": e.action,
            "occurred_at": e.occurred_at.isoformat(),
            "source": e.source,
            "email": e.email,
            "ip": e.ip,
            "user_agent": e.user_agent,
            "consent_text_version": e.consent_text.version if e.consent_text else None,
            "consent_text": e.consent_text.text_in(profile.language) if e.consent_text else None,
        }
        for e in events
    ]


def contact_preferences_export(profile: Profile) -> list[dict[str, Any]]:
    """The limits the customer chose on the preference page (none chosen: empty)."""
    preference = ContactPreference.objects.filter(profile=profile).first()
    if preference is None:
        return []
    return [
        {
            "paused_until": preference.paused_until.isoformat()
            if preference.paused_until
            else None,
            "max_frequency": preference.max_frequency or None,
            "no_service_mail": preference.no_service_mail,
            "updated_at": _iso(preference.updated_at),
        }
    ]


def suppressions_export(profile: Profile) -> list[dict[str, Any]]:
    """The do-not-contact entries for the customer or their address, lifted ones too.
    Staff notes stay internal: reason and dates only."""
    suppressions = Suppression.objects.filter(
        Q(profile=profile) | Q(email_hash=address_hash(profile.email))
    ).order_by("created_at", "id")
    return [
        {
            "reason": s.reason,
            "since": _iso(s.created_at),
            "lifted_at": _iso(s.lifted_at),
        }
        for s in suppressions
    ]


def privacy_statement() -> PrivacyStatement | None:
    return PrivacyStatement.objects.order_by("-updated_at").first()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def consent_timeline(profile: Profile, limit: int) -> list[Any]:
    """The customer's ledger rows for the admin's activity timeline."""
    from django.urls import reverse
    from django.utils.translation import gettext

    rows = (
        ConsentEvent.objects.filter(profile=profile)
        .select_related("topic")
        .order_by("-occurred_at", "-id")[:limit]
    )
    return [
        TimelineItem(
            at=row.occurred_at,
            kind=gettext("permission"),
            title=f"{row.topic.name}: {row.get_action_display()}",
            detail=row.get_source_display(),
            url=reverse("admin:consent_consentevent_change", args=[row.pk]),
        )
        for row in rows
    ]


def address_hash(email: str) -> str:
    """The keyed hash (HMAC-SHA256) by which suppression knows an address, of its one
    spelling (profiles.validation.email_canonical)."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    return hmac.new(key, email_canonical(email).encode(), hashlib.sha256).hexdigest()


def suppressions_active(profile: Profile) -> QuerySet[Suppression]:
    # A hard bounce belongs to the address; the others to the person, whatever address
    # they have now.
    return Suppression.objects.filter(lifted_at=None).filter(
        Q(email_hash=address_hash(profile.email))
        | (Q(profile=profile) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
    )


def suppressions_active_many(profiles: Iterable[Profile]) -> dict[int, list[Suppression]]:
    """suppressions_active for many customers in one query: per profile id (only those
    with any), the entries that apply, the one that counts first (a hard bounce, as it
    also stops transactional mail; then the newest)."""
    hashes = {p.pk: address_hash(p.email) for p in profiles}
    if not hashes:
        return {}
    by_hash: dict[str, list[Suppression]] = {}
    by_profile: dict[int, list[Suppression]] = {}
    for suppression in Suppression.objects.filter(lifted_at=None).filter(
        Q(email_hash__in=set(hashes.values()))
        | (Q(profile_id__in=list(hashes)) & ~Q(reason=SuppressionReason.HARD_BOUNCE))
    ):
        by_hash.setdefault(suppression.email_hash, []).append(suppression)
        if suppression.reason != SuppressionReason.HARD_BOUNCE and suppression.profile_id:
            by_profile.setdefault(suppression.profile_id, []).append(suppression)
    found: dict[int, list[Suppression]] = {}
    for profile_id, email_hash in hashes.items():
        applying = {s.pk: s for s in by_hash.get(email_hash, [])}
        applying.update((s.pk, s) for s in by_profile.get(profile_id, []))
        if applying:
            ordered = sorted(applying.values(), key=lambda s: s.created_at, reverse=True)
            ordered.sort(key=lambda s: s.reason != SuppressionReason.HARD_BOUNCE)
            found[profile_id] = ordered
    return found


def suppressed_profile_ids(profiles: Iterable[Profile]) -> set[int]:
    """Which of these customers have an active suppression (one query)."""
    return set(suppressions_active_many(profiles))


def suppression_active(profile: Profile) -> Suppression | None:
    """The do-not-contact entry that applies to this customer or address, if any (a hard
    bounce first: it also stops transactional mail)."""
    return suppressions_active_many([profile]).get(profile.pk, [None])[0]


def state_get(profile: Profile, topic: Topic) -> ConsentState | None:
    return ConsentState.objects.filter(profile=profile, topic=topic).first()


def topic_is_on(topic: Topic, status: str) -> bool:
    """Does the customer receive this topic? Service mail unless they said no; commercial
    mail only with a permission. (send_permission adds suppression and pauses.)"""
    if topic.category == Category.SERVICE:
        return status != Status.WITHDRAWN
    return status == Status.CONFIRMED
