"""Invitations, answers and what an answer sets in motion."""

import contextlib
import datetime as dt
import hmac
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Send
from core.tokens import token_from_nonce, token_nonce
from core.urls import absolute_url
from events.models import Event, EventType
from events.spec import SURVEY_ANSWERED
from profiles.models import ChangeSource, Profile
from profiles.services import profile_update

from .models import Answer, AnswerSource, Invitation, Survey, SurveyKind
from .nps import nps_group

TOKEN_PURPOSE = "survey"  # noqa: S105 - an HMAC purpose, not a secret
PREVIEW_PURPOSE = "survey-preview"
NPS_SCALE = range(11)


# --- Invitations ----------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    """The link's token: "<nonce>.<MAC of the nonce with the secret key>". The nonce finds
    the invitation, the MAC proves the link was ours; the database holds no usable link."""
    return f"{invitation.nonce}.{token_from_nonce(invitation.nonce, TOKEN_PURPOSE)}"


def _link(token: str, score: int | None = None) -> str:
    url = absolute_url("surveys:answer", token=token)
    return f"{url}?score={score}" if score is not None else url


def link_for(invitation: Invitation, score: int | None = None) -> str:
    return _link(invitation_token(invitation), score)


def preview_token(survey: Survey) -> str:
    """The token of a preview or test mail's survey links: it names the survey, never a
    customer or an invitation (another purpose, so it can never pass for one), and opens
    the survey marked as a preview that records nothing."""
    nonce = f"preview-{survey.pk}"
    return f"{nonce}.{token_from_nonce(nonce, PREVIEW_PURPOSE)}"


def preview_lookup(token: str) -> Survey | None:
    nonce, _sep, mac = token.partition(".")
    survey_id = nonce.removeprefix("preview-")
    if survey_id == nonce or not survey_id.isdigit() or len(nonce) > 32:
        return None
    if not hmac.compare_digest(token_from_nonce(nonce, PREVIEW_PURPOSE), mac):
        return None
    return Survey.objects.filter(pk=int(survey_id)).first()


def invitation_create(
    *, survey: Survey, profile: Profile, now: dt.datetime, send: Send | None = None
) -> Invitation:
    """An invitation (one per campaign send: a re-render of the same mail reuses it)."""
    if send is not None:
        existing = Invitation.objects.filter(send=send).first()
        if existing:
            return existing
    return Invitation.objects.create(
        survey=survey, profile=profile, send=send, nonce=token_nonce(), created_at=now
    )


def invitation_lookup(token: str) -> Invitation | None:
    nonce, _sep, mac = token.partition(".")
    if not nonce or not mac or len(nonce) > 32:
        return None
    if not hmac.compare_digest(token_from_nonce(nonce, TOKEN_PURPOSE), mac):
        return None
    return Invitation.objects.select_related("survey", "profile").filter(nonce=nonce).first()


def survey_context(send: Send, language: str) -> dict[str, Any]:
    """For a campaign mail that invites to a survey: the question and the links (the NPS
    scale as eleven links, each opening the answer page with that score chosen)."""
    survey = Survey.objects.filter(invitation_campaign_id=send.campaign_id, active=True).first()
    if survey is None:
        return {}
    invitation = invitation_create(survey=survey, profile=send.profile, now=send.due_at, send=send)
    return {"survey": _survey_links(survey, invitation_token(invitation), language)}


def survey_preview_context(campaign: Campaign, profile: Profile, language: str) -> dict[str, Any]:
    """The same values for the admin's preview and test mail, with sample links
    (preview_token) instead of an invitation: nothing is created or recorded."""
    survey = Survey.objects.filter(invitation_campaign=campaign, active=True).first()
    if survey is None:
        return {}
    return {"survey": _survey_links(survey, preview_token(survey), language)}


def _survey_links(survey: Survey, token: str, language: str) -> dict[str, Any]:
    with translation.override(language):
        question = survey.question
    context: dict[str, Any] = {"question": question, "url": _link(token)}
    if survey.kind == SurveyKind.NPS:
        context["scale"] = [{"score": score, "url": _link(token, score)} for score in NPS_SCALE]
    return context


# --- Answers ----------------------------------------------------------------------------


class AlreadyAnswered(Exception):
    """This invitation has its answer; it cannot be answered twice."""


def _option_keys(survey: Survey) -> list[str]:
    return [str(option["key"]) for option in survey.options]


def answer_clean(survey: Survey, data: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's fields from raw form data, refusing what does not fit the survey."""
    clean: dict[str, Any] = {
        "why": str(data.get("why") or "").strip()[:2000],
        "follow_up": str(data.get("follow_up") or "").strip()[:2000],
    }
    if survey.kind == SurveyKind.NPS:
        try:
            score = int(str(data.get("score", "")))
        except ValueError:
            raise ValidationError({"score": _("Choose a score from 0 to 10.")}) from None
        if score not in NPS_SCALE:
            raise ValidationError({"score": _("Choose a score from 0 to 10.")})
        clean["score"] = score
    elif survey.kind in (SurveyKind.ATTRIBUTION, SurveyKind.EXIT):
        choice = str(data.get("choice") or "")
        if choice not in _option_keys(survey):
            raise ValidationError({"choice": _("Choose one of the answers.")})
        clean["choice"] = choice
        other = str(data.get("other_text") or "").strip()[:300]
        if choice == "other" and not other:
            raise ValidationError({"other_text": _("Tell us where, please.")})
        clean["other_text"] = other if choice == "other" else ""
    elif survey.kind == SurveyKind.RANKING:
        keys = _option_keys(survey)
        ranking = {}
        for key in keys:
            try:
                ranking[key] = int(str(data.get(f"rank_{key}", "")))
            except ValueError:
                raise ValidationError({"ranking": _("Give every reason a rank.")}) from None
        if sorted(ranking.values()) != list(range(1, len(keys) + 1)):
            raise ValidationError(
                {"ranking": _("Give each rank from 1 to %(n)d once.") % {"n": len(keys)}}
            )
        clean["ranking"] = ranking
    return clean


@transaction.atomic
def answer_submit(
    *,
    survey: Survey,
    profile: Profile,
    data: Mapping[str, Any],
    now: dt.datetime,
    invitation: Invitation | None = None,
    source: str = AnswerSource.MAIL,
    entered_by: User | None = None,
) -> Answer:
    """Store an answer (one per invitation), let it feed the profile, and report it as a
    `Survey Answered` event so campaigns and selections can use it."""
    clean = answer_clean(survey, data)
    if invitation is not None:
        Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if Answer.objects.filter(invitation=invitation).exists():
            raise AlreadyAnswered
    try:
        with transaction.atomic():
            answer = Answer.objects.create(
                survey=survey,
                profile=profile,
                invitation=invitation,
                source=source,
                submitted_at=now,
                entered_by=entered_by,
                **clean,
            )
    except IntegrityError:
        raise AlreadyAnswered from None
    if survey.kind == SurveyKind.ATTRIBUTION:
        where = clean["other_text"] or clean["choice"]
        if clean["choice"] == "other":
            where = f"other: {clean['other_text']}"
        profile_update(
            profile=profile,
            data={"acquisition_source": where[:120]},
            source=ChangeSource.ADMIN if source == AnswerSource.STAFF else ChangeSource.CUSTOMER,
            actor=entered_by,
            now=now,
        )
    properties: dict[str, Any] = {"survey": survey.key, "kind": survey.kind}
    if "score" in clean:
        properties.update(score=clean["score"], group=nps_group(clean["score"]))
    if clean.get("choice"):
        properties["choice"] = clean["choice"]
    Event.objects.create(
        message_id=f"survey-answer-{answer.pk}",
        type=EventType.TRACK,
        name=SURVEY_ANSWERED,
        profile=profile,
        user_id=profile.user_id,
        timestamp=now,
        received_at=now,
        properties=properties,
    )
    return answer


# --- "How did you hear of us" on the subscribe page ---------------------------------------


def subscribe_question_field() -> Any:
    """The attribution survey's options as an optional choice on the subscribe page, in
    random order."""
    import random

    from django import forms

    survey = Survey.objects.filter(kind=SurveyKind.ATTRIBUTION, active=True).first()
    if survey is None:
        return forms.CharField(required=False, widget=forms.HiddenInput)
    # "Other" needs its free text; the short form leaves it out.
    options = [(o["key"], survey.option_label(o["key"])) for o in survey.options]
    options = [option for option in options if option[0] != "other"]
    random.shuffle(options)  # noqa: S311 - not for security
    return forms.ChoiceField(
        label=survey.question,
        required=False,
        choices=[("", "—"), *options],
    )


def subscribe_question_save(profile: Profile, choice: Any, now: dt.datetime) -> None:
    """Keep the answer — but only for someone we know nothing of yet: the subscribe page
    is public and unverified, so it never overwrites a customer's acquisition source."""
    survey = Survey.objects.filter(kind=SurveyKind.ATTRIBUTION, active=True).first()
    if survey is None or profile.acquisition_source:
        return
    if Answer.objects.filter(profile=profile, survey=survey).exists():
        return
    # An option that no longer exists is dropped: the subscription itself went through.
    with contextlib.suppress(ValidationError):
        answer_submit(
            survey=survey,
            profile=profile,
            data={"choice": choice},
            now=now,
            source=AnswerSource.SUBSCRIBE,
        )


def answers_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Erasure: scores and choices stay in the figures; the customer's own words go."""
    Answer.objects.filter(profile=profile).update(why="", follow_up="", other_text="")
    Invitation.objects.filter(profile=profile, answer__isnull=True).delete()
