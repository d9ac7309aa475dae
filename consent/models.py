from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile


class Category(models.TextChoices):
    TRANSACTIONAL = "transactional", _("Transactional (always sent unless the address bounced)")
    SERVICE = "service", _("Service (no permission needed; honours opt-outs)")
    COMMERCIAL = "commercial", _("Commercial (needs permission)")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class Topic(models.Model):
    """What a customer can subscribe to (or, for transactional and service topics, what
    we send without asking). The consent text a customer sees is versioned: a changed
    text is a new ConsentText, and earlier consents keep pointing at the one they saw."""

    key = models.SlugField(_("key"), max_length=50, unique=True)
    name_nl = models.CharField(_("name (Dutch)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    description_nl = models.TextField(_("description (Dutch)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    soft_opt_in_allowed = models.BooleanField(
        _("existing-customer exception allowed"),
        default=False,
        help_text=_(
            "Soft opt-in: customers who were offered an opt-out with an order may get mail "
            "about the shop's own similar products under this topic."
        ),
    )
    public = models.BooleanField(_("shown on the subscribe and preference pages"), default=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    current_text = models.ForeignKey(
        "ConsentText",
        verbose_name=_("current consent text"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_en if translation.get_language() == "en" else self.name_nl

    @property
    def description(self) -> str:
        return self.description_en if translation.get_language() == "en" else self.description_nl

    @property
    def needs_permission(self) -> bool:
        return self.category == Category.COMMERCIAL


class ConsentText(models.Model):
    """One version of the words a customer agreed to. Never edited: a change is a new row,
    and the database refuses UPDATE and DELETE (a trigger)."""

    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="texts")
    version = models.PositiveIntegerField(_("version"))
    text_nl = models.TextField(_("text (Dutch)"))
    text_en = models.TextField(_("text (English)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        constraints = [
            models.UniqueConstraint(fields=["topic", "version"], name="consent_text_version_unique")
        ]
        ordering = ["topic", "-version"]

    def __str__(self) -> str:
        return f"{self.topic.key} v{self.version}"

    def text_in(self, language: str) -> str:
        return self.text_en if language == "en" else self.text_nl


class Action(models.TextChoices):
    REQUESTED = "requested", _("requested (double opt-in mail sent)")
    CONFIRMED = "confirmed", _("confirmed (double opt-in)")
    SOFT_OPT_IN = "soft_opt_in", _("soft opt-in granted (existing customer)")
    WITHDRAWN = "withdrawn", _("withdrawn")
    RESUMED = "resumed", _("turned back on (service mail)")
    EXPIRED = "expired", _("expired (not confirmed in time)")


class Source(models.TextChoices):
    FORM = "form", _("subscribe form")
    API = "api", _("API")
    IMPORT = "import", _("import")
    ADMIN = "admin", _("admin")
    ONE_CLICK = "one_click", _("one-click unsubscribe")
    PREFERENCES = "preferences", _("preference page")
    ORDER = "order", _("order (checkout)")
    SYSTEM = "system", _("system")


class ConsentEvent(models.Model):
    """The ledger: one row per thing that happened to a permission. Append-only.

    The database refuses UPDATE and DELETE (a trigger); only erasure may blank the
    personal columns (email, ip, user_agent), through consent.services.ledger_scrub.
    """

    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="consent_events")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(_("what happened"), max_length=16, choices=Action.choices)
    occurred_at = models.DateTimeField(_("when"))
    source = models.CharField(_("how"), max_length=16, choices=Source.choices)
    # The address the permission was given for: proof, even after the profile changes it.
    email = models.CharField(_("address"), max_length=254, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    consent_text = models.ForeignKey(
        ConsentText,
        verbose_name=_("consent text shown"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent ledger")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["profile", "topic", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.topic_id} {self.action} {self.occurred_at:%Y-%m-%d}"


class Status(models.TextChoices):
    NONE = "none", _("none")
    PENDING = "pending", _("pending confirmation")
    CONFIRMED = "confirmed", _("confirmed")
    WITHDRAWN = "withdrawn", _("withdrawn")


class Basis(models.TextChoices):
    DOUBLE_OPT_IN = "double_opt_in", _("double opt-in")
    SOFT_OPT_IN = "soft_opt_in", _("soft opt-in (existing customer)")


class ConsentState(models.Model):
    """The current permission per profile and topic, derived from the ledger and written in
    the same transaction as the ledger row that changed it (consent.services.ledger_append)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consents")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NONE)
    basis = models.CharField(max_length=16, choices=Basis.choices, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    consent_text = models.ForeignKey(
        ConsentText, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("consent state")
        constraints = [
            models.UniqueConstraint(fields=["profile", "topic"], name="consent_state_unique")
        ]
        # Campaign audiences ask "who has a valid permission for topic T".
        indexes = [models.Index(fields=["topic", "status"])]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.topic_id} {self.status}"

    @property
    def permits_commercial_mail(self) -> bool:
        return self.status == Status.CONFIRMED


class OptInRequest(models.Model):
    """A double opt-in waiting for its click: one mail, one single-use token, one or more
    topics. Opening the link changes nothing; only the confirm button (POST) does."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="opt_in_requests")
    topics = models.ManyToManyField(Topic, through="OptInRequestTopic", related_name="+")
    # The link's token is derived from this nonce and the SECRET_KEY (core.tokens): the
    # same for a retried mail task, and only its hash is stored.
    nonce = models.CharField(max_length=32, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Set once the expiry of its unconfirmed topics has been written to the ledger.
    expired_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    language = models.CharField(max_length=8)

    class Meta:
        verbose_name = _("double opt-in request")
        indexes = [
            models.Index(fields=["profile", "-requested_at"]),
            models.Index(
                fields=["expires_at"],
                name="opt_in_open_expiry",
                condition=models.Q(confirmed_at=None, expired_at=None),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} opt-in {self.requested_at:%Y-%m-%d}"


class OptInRequestTopic(models.Model):
    """A topic of an opt-in request, with the consent text version the customer was shown."""

    request = models.ForeignKey(OptInRequest, on_delete=models.CASCADE, related_name="items")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="+")
    consent_text = models.ForeignKey(
        ConsentText, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "topic"], name="opt_in_topic_unique")
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.topic_id}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("hard bounce")
    COMPLAINT = "complaint", _("spam complaint")
    UNSUBSCRIBED_ALL = "unsubscribed_all", _("unsubscribed from everything")
    ERASED = "erased", _("erased at the customer's request")
    MANUAL = "manual", _("manual (staff)")


class Suppression(models.Model):
    """Do-not-contact. Keyed by a keyed hash (HMAC) of the address, so an erased person's
    address is recognised without being stored; `profile` is set while one exists."""

    email_hash = models.CharField(_("address hash"), max_length=64, db_index=True)
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="suppressions"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(_("since"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)
    lifted_because = models.CharField(_("lifted because"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppression list (do not contact)")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["profile", "lifted_at"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.created_at:%Y-%m-%d}"


class Frequency(models.TextChoices):
    DEFAULT = "", _("as often as the shop sends")
    WEEKLY = "weekly", _("at most once a week")
    MONTHLY = "monthly", _("at most once a month")


class ContactPreference(models.Model):
    """What the customer chose on the preference page beyond topics."""

    profile = models.OneToOneField(
        Profile, on_delete=models.CASCADE, primary_key=True, related_name="contact_preference"
    )
    paused_until = models.DateField(_("no mail until"), null=True, blank=True)
    max_frequency = models.CharField(
        _("how often"), max_length=8, choices=Frequency.choices, blank=True
    )
    no_service_mail = models.BooleanField(_("no service mail"), default=False)
    # List hygiene (the campaign app's sunset rule): commercial mail stopped because the
    # customer no longer reacted; the customer turns it back on from the preference page.
    sunset_at = models.DateTimeField(
        _("commercial mail stopped (no response)"), null=True, blank=True
    )
    sunset_lifted_at = models.DateTimeField(
        _("asked to keep receiving mail"), null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("contact preference")

    def __str__(self) -> str:
        return f"{self.profile_id} preferences"


class PrivacyStatement(models.Model):
    """The privacy statement customers read, in Dutch and English; the newest one shows."""

    body_nl = models.TextField(_("statement (Dutch)"))
    body_en = models.TextField(_("statement (English)"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("privacy statement")
        verbose_name_plural = _("privacy statement")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{_('privacy statement')} {self.updated_at:%Y-%m-%d}"


class LedgerPermit(models.Model):
    """Present only inside the transaction of an erasure: that profile's ledger rows may
    have their personal columns blanked, nothing else. The ledger triggers look for it
    (consent/migrations/0006); no permit lets a ledger row be deleted."""

    profile_id = models.BigIntegerField()

    class Meta:
        db_table = "consent_ledgerpermit"

    def __str__(self) -> str:
        return f"ledger permit {self.profile_id}"
