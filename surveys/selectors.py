"""Reads of the survey domain: reports, and what surveys add to the registries below."""

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth

from profiles.models import Profile
from profiles.registry import TimelineItem
from surveys.nps import NpsFigures

from .models import Answer, Survey, SurveyKind

# The NPS groups counted in SQL (the same borders as services.nps_group).
NPS_COUNTS = {
    "responses": Count("id"),
    "promoters": Count("id", filter=Q(score__gte=9)),
    "passives": Count("id", filter=Q(score__gte=7, score__lte=8)),
    "detractors": Count("id", filter=Q(score__lte=6)),
}


def _figures(row: Any) -> NpsFigures:
    return NpsFigures(**{name: row[name] for name in NPS_COUNTS})


def nps_answers(
    *, start: dt.date | None = None, end: dt.date | None = None, profiles: QuerySet | None = None
) -> QuerySet[Answer]:
    answers = Answer.objects.filter(survey__kind=SurveyKind.NPS, score__isnull=False)
    if start:
        answers = answers.filter(submitted_at__date__gte=start)
    if end:
        answers = answers.filter(submitted_at__date__lte=end)
    if profiles is not None:
        answers = answers.filter(profile__in=profiles)
    return answers


def nps_report(
    *, start: dt.date | None, end: dt.date | None, profiles: QuerySet | None = None
) -> dict[str, Any]:
    """Counts and NPS over a period (inclusive dates), optionally for a selection."""
    rows = nps_answers(start=start, end=end, profiles=profiles).aggregate(**NPS_COUNTS)
    return _figures(rows).as_dict()


def nps_by_month(
    *, months: int = 12, profiles: QuerySet | None = None, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    from django.utils import timezone

    since = ((now or timezone.now()) - dt.timedelta(days=31 * months)).date().replace(day=1)
    rows = (
        nps_answers(start=since, profiles=profiles)
        .annotate(month=TruncMonth("submitted_at"))
        .values("month")
        .annotate(**NPS_COUNTS)
        .order_by("month")
    )
    return [{"month": row["month"].strftime("%Y-%m"), **_figures(row).as_dict()} for row in rows]


def attribution_by_channel(*, months: int = 12) -> dict[str, Any]:
    """Answers to "how did you hear of us" per month and channel, and the "other" texts."""
    from django.utils import timezone

    since = timezone.now() - dt.timedelta(days=31 * months)
    answers = Answer.objects.filter(survey__kind=SurveyKind.ATTRIBUTION, submitted_at__gte=since)
    per_month: dict[str, dict[str, int]] = defaultdict(dict)
    for row in (
        answers.annotate(month=TruncMonth("submitted_at"))
        .values("month", "choice")
        .annotate(n=Count("id"))
        .order_by("month")
    ):
        per_month[row["month"].strftime("%Y-%m")][row["choice"]] = row["n"]
    totals = dict(answers.values_list("choice").annotate(n=Count("id")).order_by("-n"))
    others = list(
        answers.filter(choice="other")
        .exclude(other_text="")
        .order_by("-submitted_at")
        .values_list("other_text", flat=True)[:200]
    )
    return {"per_month": dict(per_month), "totals": totals, "other_texts": others}


def ranking_averages(survey: Survey) -> list[tuple[str, float, int]]:
    """(reason, average rank, answers) — lower is more important — best first."""
    sums: dict[str, list[int]] = defaultdict(list)
    for ranking in Answer.objects.filter(survey=survey).values_list("ranking", flat=True):
        for key, rank in (ranking or {}).items():
            sums[key].append(int(rank))
    rows = [(key, round(sum(r) / len(r), 2), len(r)) for key, r in sums.items() if r]
    return sorted(rows, key=lambda row: row[1])


def response_rates() -> list[dict[str, Any]]:
    """Invitations and answers per survey (and so per invitation campaign)."""
    rows = []
    for survey in Survey.objects.annotate(
        invited=Count("invitations", distinct=True),
        answered=Count("invitations", filter=Q(invitations__answer__isnull=False), distinct=True),
    ):
        rate = round(100 * survey.answered / survey.invited, 1) if survey.invited else None
        rows.append(
            {
                "survey": survey.key,
                "campaign": survey.invitation_campaign.key if survey.invitation_campaign else "",
                "invited": survey.invited,
                "answered": survey.answered,
                "rate": rate,
            }
        )
    return rows


# --- Registries below --------------------------------------------------------------------


def answers_export(profile: Profile) -> list[dict[str, Any]]:
    return [
        {
            "survey": a.survey.key,
            "submitted_at": a.submitted_at.isoformat(),
            "score": a.score,
            "choice": a.choice,
            "other": a.other_text,
            "ranking": a.ranking,
            "why": a.why,
            "follow_up": a.follow_up,
        }
        for a in Answer.objects.filter(profile=profile)
        .select_related("survey")
        .order_by("submitted_at", "id")
    ]


def latest_nps(profile: Profile) -> dict[str, Any] | None:
    answer = (
        Answer.objects.filter(profile=profile, survey__kind=SurveyKind.NPS, score__isnull=False)
        .order_by("-submitted_at")
        .first()
    )
    if answer is None:
        return None
    return {"score": answer.score, "answered_at": answer.submitted_at.isoformat()}


def answers_timeline(profile: Profile, limit: int) -> list[Any]:
    from django.urls import reverse
    from django.utils.translation import gettext

    return [
        TimelineItem(
            at=a.submitted_at,
            kind=gettext("survey"),
            title=a.survey.name,
            detail=(
                str(a.score)
                if a.score is not None
                else a.survey.option_label(a.choice)
                if a.choice
                else ""
            ),
            url=reverse("admin:surveys_answer_change", args=[a.pk]),
        )
        for a in Answer.objects.filter(profile=profile)
        .select_related("survey")
        .order_by("-submitted_at")[:limit]
    ]
