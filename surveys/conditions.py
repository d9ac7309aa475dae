"""What a selection can ask of surveys: the latest NPS answer's group, an answer to a
survey (registered from ready())."""

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from profiles.selections import ConditionKind, Param, register_condition

from .models import Answer, Survey, SurveyKind


def _nps_q(params: dict[str, Any], now: dt.datetime) -> Q:
    """The customer's latest NPS answer is a promoter / passive / detractor."""
    group = params["group"]
    bounds = {"promoter": (9, 10), "passive": (7, 8), "detractor": (0, 6)}[group]
    later = Answer.objects.filter(
        profile=OuterRef("profile"),
        survey__kind=SurveyKind.NPS,
        submitted_at__gt=OuterRef("submitted_at"),
    )
    latest = Answer.objects.filter(
        profile=OuterRef("pk"),
        survey__kind=SurveyKind.NPS,
        score__gte=bounds[0],
        score__lte=bounds[1],
    ).filter(~Exists(later))
    if params.get("days") is not None:
        latest = latest.filter(submitted_at__gte=now - dt.timedelta(days=params["days"]))
    return Q(Exists(latest))


def _answer_q(params: dict[str, Any], now: dt.datetime) -> Q:
    answers = Answer.objects.filter(profile=OuterRef("pk"), survey__key=params["survey"])
    if params.get("choice"):
        answers = answers.filter(choice=params["choice"])
    return Q(Exists(answers))


def register_selection_conditions() -> None:
    group = _("Surveys")
    register_condition(
        ConditionKind(
            key="nps",
            label=_("Latest NPS answer"),
            group=group,
            params=(
                Param(
                    "group",
                    _("is a"),
                    "choice",
                    lambda: [
                        ("promoter", str(_("promoter (9–10)"))),
                        ("passive", str(_("passive (7–8)"))),
                        ("detractor", str(_("detractor (0–6)"))),
                    ],
                ),
                Param("days", _("in the last … days"), "days", required=False),
            ),
            compile=_nps_q,
        )
    )
    register_condition(
        ConditionKind(
            key="survey_answer",
            label=_("Answered a survey"),
            group=group,
            params=(
                Param(
                    "survey",
                    _("survey"),
                    "choice",
                    lambda: [(s.key, s.name) for s in Survey.objects.order_by("name")],
                ),
                Param("choice", _("with the answer (key)"), "text", required=False),
            ),
            compile=_answer_q,
        )
    )
