"""Campaign rules, their templates, the sends the scheduler makes of them, and deliveries.

A campaign's trigger turns into one `Send` per (campaign, profile, occurrence) — a unique
key the database enforces, so no tick, worker or retry can make a second one. A send is
claimed before the mail goes out, re-checked, and ends as a `Delivery` or as skipped with
its reason; a deferral moves its due time and says why.
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from consent.models import Topic
from core.models import TimeStampedModel
from profiles.models import Profile, Selection


class TriggerKind(models.TextChoices):
    EVENT = "event", _("an event (each time it happens)")
    FIRST_EVENT = "first_event", _("the first time an event happens")
    BASKET = "basket", _("a basket left behind (last basket change)")
    CONSENT = "consent", _("a permission confirmed (double opt-in)")
    YEARLY = "yearly", _("a date on the profile, every year")
    MILESTONE = "milestone", _("a milestone: the n-th order")
    INACTIVITY = "inactivity", _("no order for a number of days")
    SCHEDULED = "scheduled", _("once, at a set time, to a selection (newsletter)")
    SUNSET = "sunset", _("no reaction to the last commercial mails (sunset rule)")


class Reentry(models.TextChoices):
    ONCE = "once", _("once ever")
    EACH = "each", _("once per trigger occurrence")
    DAYS = "days", _("at most once per number of days")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    LIVE = "live", _("live")
    PAUSED = "paused", _("paused")
    ARCHIVED = "archived", _("archived")


class Campaign(TimeStampedModel):
    key = models.SlugField(_("key"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    topic = models.ForeignKey(
        Topic,
        verbose_name=_("topic"),
        on_delete=models.PROTECT,
        help_text=_("What the mail is about; its category decides the permission needed."),
    )
    trigger = models.CharField(_("trigger"), max_length=12, choices=TriggerKind.choices)
    # event / first_event: the event's name; yearly: the profile field (birth_date,
    # first_order_at); milestone: the order count; inactivity: days without an order.
    trigger_event = models.CharField(_("event"), max_length=200, blank=True)
    trigger_field = models.CharField(_("date field"), max_length=40, blank=True)
    trigger_number = models.PositiveIntegerField(_("number"), null=True, blank=True)
    delay = models.DurationField(_("delay"), default=dt.timedelta(0))
    send_at_local_time = models.TimeField(
        _("at local time"),
        null=True,
        blank=True,
        help_text=_("Yearly dates: the hour in the customer's own time zone."),
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    selection = models.ForeignKey(
        Selection,
        verbose_name=_("conditions (selection)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Only customers in this selection, checked again at send time."),
    )
    exit_events = models.JSONField(
        _("leaves on"),
        default=list,
        blank=True,
        help_text=_("Events after the trigger that cancel the mail, e.g. Order Completed."),
    )
    reentry = models.CharField(
        _("re-entry"), max_length=5, choices=Reentry.choices, default=Reentry.EACH
    )
    reentry_days = models.PositiveIntegerField(_("re-entry after days"), null=True, blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=50, help_text=_("Higher wins when mails compete for a slot.")
    )
    window_start = models.TimeField(_("not before (local time)"), default=dt.time(8, 0))
    window_end = models.TimeField(_("not after (local time)"), default=dt.time(21, 0))
    late_cutoff = models.DurationField(
        _("late cut-off"),
        default=dt.timedelta(hours=24),
        help_text=_("A mail this far past its moment is skipped, never sent late."),
    )
    is_default = models.BooleanField(_("lifecycle default"), default=False, editable=False)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    """A campaign's mail in one language, in the sandboxed template language."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="templates")
    language = models.CharField(
        _("language"), max_length=2, choices=[("nl", "Nederlands"), ("en", "English")]
    )
    subject = models.CharField(_("subject"), max_length=200)
    preheader = models.CharField(_("preheader"), max_length=200, blank=True)
    html = models.TextField(_("HTML"))
    text = models.TextField(_("plain text"))

    class Meta:
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "language"], name="template_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} ({self.language})"


class SendStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    CLAIMED = "claimed", _("being sent")
    SENT = "sent", _("sent")
    SKIPPED = "skipped", _("skipped")
    UNKNOWN = "unknown", _("unknown (may have been delivered)")


class Reason(models.TextChoices):
    """Why a send was skipped or deferred: what a marketer reads."""

    NO_CONSENT = "no_consent", _("no permission")
    SUNSET = "sunset", _("commercial mail stopped: no reaction (sunset rule)")
    SUPPRESSED = "suppressed", _("on the do-not-contact list")
    PAUSED = "paused", _("customer paused mail")
    NO_SERVICE_MAIL = "no_service_mail", _("customer turned service mail off")
    WITHDRAWN = "withdrawn", _("permission withdrawn")
    ERASED = "erased", _("customer erased")
    EXITED = "exited", _("left the campaign (exit event)")
    NOT_SELECTED = "not_selected", _("no longer matches the conditions")
    QUIET_HOURS = "quiet_hours", _("outside the send window")
    CAPPED = "capped", _("frequency cap")
    TOO_LATE = "too_late", _("past the late cut-off")
    NOT_LIVE = "not_live", _("campaign not live")
    NO_TEMPLATE = "no_template", _("no template (or it does not render)")
    NO_PROPOSITION = "no_proposition", _("nothing to offer")
    REFUSED = "refused", _("mail server refused")
    # Status "scheduled" again: the mail server answered "try again later" (4xx).
    MAIL_DEFERRED = "mail_deferred", _("mail server asked to try again later")
    # Status "unknown": the mail server had the message and never answered.
    NO_ANSWER = "no_answer", _("mail server did not answer")
    # Status "unknown": handed to the mail server by a worker that died before it heard back.
    WORKER_LOST = "worker_lost", _("worker lost while handing the mail over")


class Send(models.Model):
    """One mail the scheduler decided a customer should get, from due to done."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="sends")
    # What made it: "once", an event id, a year, a lapse … (see scheduler.py)
    occurrence = models.CharField(_("occurrence"), max_length=120)
    trigger_at = models.DateTimeField(_("triggered at"))
    due_at = models.DateTimeField(_("due"))
    priority = models.PositiveSmallIntegerField(_("priority"), default=50)
    status = models.CharField(
        _("status"), max_length=10, choices=SendStatus.choices, default=SendStatus.SCHEDULED
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    deferrals = models.PositiveSmallIntegerField(_("deferrals"), default=0)
    claim = models.UUIDField(_("claim"), null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sending_at = models.DateTimeField(_("handed to the mail server"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("send")
        verbose_name_plural = _("sends")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "profile", "occurrence"], name="send_once_per_occurrence"
            ),
            # A mail that did not (surely) go out always says why: the admin and the
            # customer's timeline show it.
            models.CheckConstraint(
                condition=~models.Q(status__in=["skipped", "unknown"], reason=""),
                name="send_not_sent_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-priority", "due_at"],
                name="send_due",
                condition=models.Q(status="scheduled"),
            ),
            models.Index(
                fields=["claimed_at"], name="send_claimed", condition=models.Q(status="claimed")
            ),
            models.Index(fields=["profile", "campaign", "trigger_at"], name="send_profile"),
            models.Index(fields=["claim"], name="send_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.profile_id}/{self.occurrence}"


class Delivery(models.Model):
    """A mail that went out (or may have: see accepted_at); the log frequency control
    counts."""

    send = models.OneToOneField(Send, on_delete=models.CASCADE, related_name="delivery")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="deliveries")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    category = models.CharField(_("category"), max_length=14)
    sent_at = models.DateTimeField(_("sent"))
    # When the mail server (or the ESP) took it. Empty while it is on its way, and for
    # good when the worker died meanwhile: nobody knows whether it went out (the send is
    # "unknown"); such a mail still counts for frequency control.
    accepted_at = models.DateTimeField(_("accepted by the mail server"), null=True, blank=True)
    message_id = models.CharField(_("message id"), max_length=255, blank=True, db_index=True)
    subject = models.CharField(_("subject"), max_length=200)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced"), null=True, blank=True)
    complained_at = models.DateTimeField(_("complained"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-sent_at"]
        indexes = [
            # Frequency control: this customer's mails of a category since t.
            models.Index(fields=["profile", "category", "sent_at"], name="delivery_frequency"),
            models.Index(fields=["campaign", "sent_at"], name="delivery_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.profile_id} {self.sent_at:%Y-%m-%d %H:%M}"


class FrequencyPolicy(models.Model):
    """The global cap on commercial mail per customer (one row)."""

    max_per_day = models.PositiveSmallIntegerField(_("at most per 24 hours"), default=1)
    max_per_week = models.PositiveSmallIntegerField(_("at most per 7 days"), default=3)
    cap_service = models.BooleanField(_("also cap service mail"), default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("frequency policy")
        verbose_name_plural = _("frequency policy")

    def __str__(self) -> str:
        return f"≤ {self.max_per_day}/24 h, ≤ {self.max_per_week}/7 d"

    @classmethod
    def current(cls) -> "FrequencyPolicy":
        policy = cls.objects.order_by("pk").first()
        return policy or cls()


class Proposition(TimeStampedModel):
    """Something the shop offers a customer after an order: a product line, an
    accessory, a service. Shown in the cross-sell mail and through the API."""

    key = models.SlugField(_("key"), max_length=50, unique=True)
    title_nl = models.CharField(_("title (Dutch)"), max_length=120)
    title_en = models.CharField(_("title (English)"), max_length=120)
    text_nl = models.TextField(_("text (Dutch)"))
    text_en = models.TextField(_("text (English)"))
    url = models.URLField(_("link"), max_length=500)
    image_url = models.URLField(_("image"), max_length=500, blank=True)
    # What the proposition offers: a customer who already bought it is not offered it.
    offers_category = models.CharField(_("offers category"), max_length=100, blank=True)
    offers_product_id = models.CharField(_("offers product"), max_length=100, blank=True)
    is_default = models.BooleanField(
        _("fallback"), default=False, help_text=_("Offered when nothing in the matrix fits.")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("proposition")
        verbose_name_plural = _("propositions")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.title_nl

    def shown(self, language: str) -> dict[str, str]:
        """What a template and the API see, in the customer's language."""
        english = language == "en"
        return {
            "key": self.key,
            "title": self.title_en if english else self.title_nl,
            "text": self.text_en if english else self.text_nl,
            "url": self.url,
            "image_url": self.image_url,
        }


class PropositionRule(models.Model):
    """A row of the product/proposition matrix: who bought this (product or category)
    is offered that."""

    product_id = models.CharField(_("bought product"), max_length=100, blank=True)
    category = models.CharField(_("bought category"), max_length=100, blank=True)
    proposition = models.ForeignKey(
        Proposition, verbose_name=_("proposition"), on_delete=models.CASCADE, related_name="rules"
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=50)

    class Meta:
        verbose_name = _("matrix row")
        verbose_name_plural = _("product/proposition matrix")
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(product_id="", category=""),
                name="proposition_rule_names_a_product_or_category",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id or self.category} → {self.proposition}"


class SunsetPolicy(models.Model):
    """List hygiene (one row, off by default): a customer who opened or clicked none of
    their last `mails` commercial mails over `days` days gets one "do you still want our
    mail?" message (the `sunset` campaign); without a reaction within `grace_days`,
    commercial mail stops — recorded, and reversible by the customer."""

    active = models.BooleanField(_("active"), default=False)
    mails = models.PositiveSmallIntegerField(_("commercial mails without a reaction"), default=10)
    days = models.PositiveSmallIntegerField(_("over days"), default=180)
    grace_days = models.PositiveSmallIntegerField(_("days to answer"), default=14)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sunset rule")
        verbose_name_plural = _("sunset rule")

    def __str__(self) -> str:
        state = _("on") if self.active else _("off")
        return f"{state}: {self.mails} / {self.days} d, {self.grace_days} d"

    @classmethod
    def current(cls) -> "SunsetPolicy":
        return cls.objects.order_by("pk").first() or cls()
