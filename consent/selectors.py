"""Reads of the consent domain; above all `send_permission`, which every send path asks."""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from profiles.models import Profile

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
from .services import address_hash, suppression_active


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = (
        ""  # why not: erased, suppressed:<reason>, paused, no_service_mail, withdrawn, no_consent
    )
    basis: str = ""  # for commercial mail: double_opt_in or soft_opt_in


def _local_date(profile: Profile, now: dt.datetime) -> dt.date:
    try:
        return now.astimezone(zoneinfo.ZoneInfo(profile.timezone)).date()
    except zoneinfo.ZoneInfoNotFoundError:
        return now.date()


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
        and preference.paused_until >= _local_date(profile, now)
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


# --- Conditions for selections ------------------------------------------------------------


def _topic_choices() -> list[tuple[str, str]]:
    return [(t.key, t.name) for t in Topic.objects.exclude(category=Category.TRANSACTIONAL)]


def _consent_q(params: dict[str, Any], now: dt.datetime) -> Q:
    from django.db.models import Exists, OuterRef

    status = params["status"]
    states = ConsentState.objects.filter(profile=OuterRef("pk"), topic__key=params["topic"])
    if status == Status.NONE:
        return ~Q(Exists(states.exclude(status=Status.NONE)))
    states = states.filter(status=status)
    if params.get("basis"):
        states = states.filter(basis=params["basis"])
    return Q(Exists(states))


def _suppressed_q(params: dict[str, Any], now: dt.datetime) -> Q:
    from django.db.models import Exists, OuterRef

    from .models import Suppression

    return Q(Exists(Suppression.objects.filter(profile=OuterRef("pk"), lifted_at=None)))


def _contactable_q(params: dict[str, Any], now: dt.datetime) -> Q:
    """Could be mailed under the topic now: the SQL twin of send_permission (which still
    has the last word at send time)."""
    from django.db.models import Exists, OuterRef

    from .models import Suppression

    topic = Topic.objects.filter(key=params["topic"]).first()
    if topic is None:
        return Q(pk__in=[])
    # Transactional topics are not offered here (they go to everyone with an address).
    q = ~Q(Exists(Suppression.objects.filter(profile=OuterRef("pk"), lifted_at=None)))
    q &= ~Q(contact_preference__paused_until__gte=now.date())
    state = ConsentState.objects.filter(profile=OuterRef("pk"), topic=topic)
    if topic.category == Category.SERVICE:
        q &= ~Q(contact_preference__no_service_mail=True) & ~Q(
            Exists(state.filter(status=Status.WITHDRAWN))
        )
    else:
        q &= Q(contact_preference__sunset_at__isnull=True)
        confirmed = state.filter(status=Status.CONFIRMED)
        if not topic.soft_opt_in_allowed:
            confirmed = confirmed.exclude(basis=Basis.SOFT_OPT_IN)
        q &= Q(Exists(confirmed))
    return q


def register_selection_conditions() -> None:
    from django.utils.translation import gettext_lazy as _

    from profiles.selections import ConditionKind, Param, register_condition

    group = _("Permission")
    register_condition(
        ConditionKind(
            key="consent",
            label=_("Permission for a topic"),
            group=group,
            params=(
                Param("topic", _("topic"), "choice", _topic_choices),
                Param(
                    "status",
                    _("status"),
                    "choice",
                    lambda: [(k, str(v)) for k, v in Status.choices],
                ),
                Param(
                    "basis",
                    _("basis"),
                    "choice",
                    lambda: [("", "—"), *[(k, str(v)) for k, v in Basis.choices]],
                    required=False,
                ),
            ),
            compile=_consent_q,
        )
    )
    register_condition(
        ConditionKind(
            key="suppressed",
            label=_("On the do-not-contact list"),
            group=group,
            params=(),
            compile=_suppressed_q,
        )
    )
    register_condition(
        ConditionKind(
            key="contactable",
            label=_("Can be mailed about a topic now"),
            group=group,
            params=(Param("topic", _("topic"), "choice", _topic_choices),),
            compile=_contactable_q,
        )
    )


def consent_timeline(profile: Profile, limit: int) -> list[Any]:
    """The customer's ledger rows for the admin's activity timeline."""
    from django.urls import reverse
    from django.utils.translation import gettext

    from profiles.registry import TimelineItem

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
