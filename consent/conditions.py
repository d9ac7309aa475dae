"""What a selection can ask of consent: permission per topic, the do-not-contact list,
"can be mailed about a topic now" (registered with profiles.selections from ready())."""

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from profiles.selections import ConditionKind, Param, register_condition

from .models import Basis, Category, ConsentState, Status, Suppression, Topic


def _topic_choices() -> list[tuple[str, str]]:
    return [(t.key, t.name) for t in Topic.objects.exclude(category=Category.TRANSACTIONAL)]


def _consent_q(params: dict[str, Any], now: dt.datetime) -> Q:
    status = params["status"]
    states = ConsentState.objects.filter(profile=OuterRef("pk"), topic__key=params["topic"])
    if status == Status.NONE:
        return ~Q(Exists(states.exclude(status=Status.NONE)))
    states = states.filter(status=status)
    if params.get("basis"):
        states = states.filter(basis=params["basis"])
    return Q(Exists(states))


def _suppressed_q(params: dict[str, Any], now: dt.datetime) -> Q:
    return Q(Exists(Suppression.objects.filter(profile=OuterRef("pk"), lifted_at=None)))


def _contactable_q(params: dict[str, Any], now: dt.datetime) -> Q:
    """Could be mailed under the topic now: the SQL twin of send_permission (which still
    has the last word at send time)."""
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
