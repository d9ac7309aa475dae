"""Surveys (NPS, how did you hear of us, reasons ranking, exit), invitations with a token
link, and answers — one per invitation."""

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Send
from core.models import TimeStampedModel
from profiles.models import Profile


class SurveyKind(models.TextChoices):
    NPS = "nps", _("NPS (0–10)")
    ATTRIBUTION = "attribution", _("How did you hear of us")
    RANKING = "ranking", _("Reasons ranking")
    EXIT = "exit", _("Exit survey")


class Survey(TimeStampedModel):
    key = models.SlugField(_("key"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=SurveyKind.choices)
    name = models.CharField(_("name"), max_length=120)
    question_nl = models.CharField(_("question (Dutch)"), max_length=300)
    question_en = models.CharField(_("question (English)"), max_length=300)
    # The open follow-up ("why?"), shown with every answer; blank: none.
    follow_up_nl = models.CharField(_("follow-up question (Dutch)"), max_length=300, blank=True)
    follow_up_en = models.CharField(_("follow-up question (English)"), max_length=300, blank=True)
    # attribution, ranking and exit: [{"key": "google", "nl": "Google", "en": "Google"}, …]
    options = models.JSONField(_("options"), default=list, blank=True)
    # A follow-up question per option key: {"other": {"nl": "…", "en": "…"}}
    option_follow_ups = models.JSONField(_("follow-up per answer"), default=dict, blank=True)
    invitation_campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("invitation campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="surveys",
        help_text=_("The campaign whose mails invite customers to this survey."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def _pick(self, nl: str, en: str) -> str:
        return en if translation.get_language() == "en" and en else nl

    @property
    def question(self) -> str:
        return self._pick(self.question_nl, self.question_en)

    @property
    def follow_up(self) -> str:
        return self._pick(self.follow_up_nl, self.follow_up_en)

    def option_label(self, key: str) -> str:
        for option in self.options:
            if option.get("key") == key:
                return self._pick(option.get("nl", key), option.get("en", ""))
        return key


class Invitation(models.Model):
    """One customer asked once (by a campaign mail, or on the subscribe page). The link's
    token is derived from `nonce` (core.tokens), so the database holds no usable link."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="invitations")
    send = models.OneToOneField(
        Send, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitation"
    )
    nonce = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(_("invited"))

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [models.Index(fields=["survey", "created_at"], name="invitation_survey")]

    def __str__(self) -> str:
        return f"{self.survey_id} → {self.profile_id}"


class AnswerSource(models.TextChoices):
    MAIL = "mail", _("invitation mail")
    SUBSCRIBE = "subscribe", _("subscribe page")
    STAFF = "staff", _("entered by staff")


class Answer(models.Model):
    """A customer's answer: one per invitation, changeable until submitted."""

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="answers")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="survey_answers")
    invitation = models.OneToOneField(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="answer"
    )
    source = models.CharField(_("through"), max_length=10, choices=AnswerSource.choices)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    choice = models.CharField(_("answer"), max_length=50, blank=True)
    other_text = models.CharField(_("other"), max_length=300, blank=True)
    # ranking: {"convenience": 1, "price": 3, …}
    ranking = models.JSONField(_("ranking"), default=dict, blank=True)
    why = models.TextField(_("why"), blank=True)
    follow_up = models.TextField(_("follow-up answer"), blank=True)
    submitted_at = models.DateTimeField(_("submitted"))
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["survey", "submitted_at"], name="answer_survey_time"),
            models.Index(fields=["profile", "survey", "-submitted_at"], name="answer_profile"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__lte=10),
                name="answer_score_0_to_10",
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.profile_id} {self.submitted_at:%Y-%m-%d}"
