"""The public answer pages, reached by a token link from the invitation mail.

A GET (a mail scanner follows every link) shows the question with the score from the
link chosen and records nothing; the customer confirms with a POST, may add why, and
lands on a thank-you page. One answer per invitation.
"""

import random
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_http_methods

from core.http import customer_page

from .models import Answer, Invitation, Survey, SurveyKind
from .services import (
    NPS_SCALE,
    AlreadyAnswered,
    answer_clean,
    answer_submit,
    invitation_lookup,
    preview_lookup,
)


def _invitation(request: HttpRequest, token: str) -> Invitation:
    invitation = invitation_lookup(token)
    if invitation is None or invitation.profile.erased_at:
        raise Http404
    language = invitation.profile.language if invitation.profile.language in ("nl", "en") else "nl"
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return invitation


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = customer_page(request, template, context, status)
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    sample = preview_lookup(token)
    if sample is not None:
        return _preview(request, sample)
    invitation = _invitation(request, token)
    survey = invitation.survey
    if Answer.objects.filter(invitation=invitation).exists():
        return HttpResponseRedirect(reverse("surveys:thanks", kwargs={"token": token}))
    errors: dict[str, list[str]] = {}
    values = request.POST if request.method == "POST" else request.GET
    if request.method == "POST":
        try:
            answer_submit(
                survey=survey,
                profile=invitation.profile,
                data=request.POST,
                now=timezone.now(),
                invitation=invitation,
            )
        except AlreadyAnswered:
            pass
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            return HttpResponseRedirect(reverse("surveys:thanks", kwargs={"token": token}))
    return _answer_page(request, "surveys/answer.html", survey, values, errors)


def _answer_page(
    request: HttpRequest,
    template: str,
    survey: Survey,
    values: Mapping[str, Any],
    errors: dict[str, list[str]],
) -> HttpResponse:
    options = [{"key": o["key"], "label": survey.option_label(o["key"])} for o in survey.options]
    if survey.kind == SurveyKind.ATTRIBUTION:
        # Shown in random order, so the first option does not win by position; "other" last.
        random.shuffle(options)  # noqa: S311 - not for security
        options.sort(key=lambda o: o["key"] == "other")
    chosen = str(values.get("score", ""))
    return _page(
        request,
        template,
        {
            "survey": survey,
            "kind": survey.kind,
            "scale": [str(n) for n in NPS_SCALE],
            "chosen": chosen,
            "options": options,
            "ranks": [str(n) for n in range(1, len(options) + 1)],
            "values": values,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _invitation(request, token)
    if not Answer.objects.filter(invitation=invitation).exists():
        return HttpResponseRedirect(reverse("surveys:answer", kwargs={"token": token}))
    return _page(request, "surveys/thanks.html", {"survey": invitation.survey})


def _preview(request: HttpRequest, survey: Survey) -> HttpResponse:
    """A preview or test mail's sample link: the survey as a customer would see it, marked
    as a preview; a submitted answer is checked, then thanked for, and never recorded."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            answer_clean(survey, request.POST)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            return _page(request, "surveys/thanks_preview.html", {"survey": survey})
    values = request.POST if request.method == "POST" else request.GET
    return _answer_page(request, "surveys/answer_preview.html", survey, values, errors)
