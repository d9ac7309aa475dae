import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from core.models import TimeStampedModel


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    LAPSED = "lapsed", _("Lapsed")
    CHURNED = "churned", _("Churned")


class Language(models.TextChoices):
    DUTCH = "nl", _("Dutch")
    ENGLISH = "en", _("English")


class Profile(TimeStampedModel):
    """One customer of the shop, keyed by the shop's own user id; always has an address.

    Value figures (orders, spend, last seen) are filled by events; marketers read them.
    """

    user_id = models.CharField(_("user id"), max_length=255, unique=True)
    # Stored lower-case; unique case-insensitively (the constraint below says so too).
    email = models.EmailField(_("email address"), max_length=254)

    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    street = models.CharField(_("street"), max_length=200, blank=True)
    house_number = models.CharField(_("house number"), max_length=20, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    country = CountryField(_("country"), blank=True)

    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.DUTCH
    )
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Amsterdam")
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.PROSPECT,
    )
    acquisition_source = models.CharField(_("acquisition source"), max_length=120, blank=True)

    # Value figures: kept by the event roll-ups, read-only for marketers.
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spent = models.DecimalField(_("total spent"), max_digits=12, decimal_places=2, default=0)
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)

    custom_attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)

    # What self-service links sign: random, so a link says nothing about the customer,
    # and replaced on erasure, so every old link stops working.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Set when the person was erased: the row stays as an empty tombstone so that
    # campaign figures remain whole, but it holds no personal data.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("erase_profile", _("Can erase a customer's personal data"))]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="profile_email_unique_ci",
                violation_error_message=_("A customer with this email address already exists."),
            ),
        ]
        indexes = [
            models.Index(fields=["lifecycle_stage"]),
            models.Index(fields=["postal_code"]),
            models.Index(fields=["last_name", "first_name"]),
            models.Index(fields=["birth_date"]),
            models.Index(fields=["last_order_at"]),
        ]

    def __str__(self) -> str:
        return self.user_id

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


# `email__lower=` compiles to LOWER(email) = …, which the unique index serves; a plain
# `email=` would scan the table.
Profile._meta.get_field("email").register_lookup(Lower)


class ChangeSource(models.TextChoices):
    ADMIN = "admin", _("Admin")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    CUSTOMER = "customer", _("Customer page")
    SYSTEM = "system", _("System")


class ProfileChange(models.Model):
    """One change to a profile: which fields went from what to what, when, and by whom.

    `changes` maps field name to [old, new]. Erasure replaces the values with None and
    sets `erased`, keeping only which fields changed and when.
    """

    # No index of its own: the (profile, -changed_at) index below serves it.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    changed_at = models.DateTimeField(_("changed at"), db_index=True)
    source = models.CharField(_("through"), max_length=16, choices=ChangeSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.BooleanField(_("profile created"), default=False)
    changes = models.JSONField(_("changes"), default=dict)
    note = models.CharField(_("note"), max_length=200, blank=True)
    erased = models.BooleanField(_("personal data erased"), default=False)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("change history")
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["profile", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.profile_id} @ {self.changed_at:%Y-%m-%d %H:%M}"


class EmailChangeRequest(models.Model):
    """A customer's request to use a new address, waiting for a click from that address."""

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="email_change_requests"
    )
    new_email = models.EmailField(max_length=254)
    # The links' tokens are derived from this nonce and the SECRET_KEY (core.tokens): the
    # same for a retried mail task; only their hashes are stored.
    nonce = models.CharField(max_length=32, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    cancel_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("email change request")
        indexes = [models.Index(fields=["profile", "-requested_at"])]

    def __str__(self) -> str:
        return f"{self.profile_id} email change {self.requested_at:%Y-%m-%d}"


class ImportJob(models.Model):
    """A profile import started in the admin; the worker runs it and reports progress here.

    The uploaded file is kept in the database so that web and worker need no shared disk.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    filename = models.CharField(_("file"), max_length=255)
    # The uploaded file: emptied once imported (or after a week unused), as it holds
    # personal data. A real import reads the file of the dry run it comes from.
    content = models.BinaryField()
    source_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dry_run = models.BooleanField(_("dry run"), default=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("refused"), default=0)
    # [{"row": 7, "field": "email", "message": "..."}], capped; error_count has the total.
    errors = models.JSONField(default=list, blank=True)
    # A sample of what the import would do: [{"row", "user_id", "action", "changes"}].
    preview = models.JSONField(default=list, blank=True)
    extra_columns = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)

    class Meta:
        verbose_name = _("profile import")
        verbose_name_plural = _("profile imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class Selection(TimeStampedModel):
    """A marketer's named set of conditions (a segment): an audience, a campaign's
    conditions, an export. The definition is a tree of AND/OR groups, see selections.py."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    definition = models.JSONField(_("conditions"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookEvent(models.TextChoices):
    """What the shop's systems can hear about (see profiles/webhooks.py)."""

    PROFILE_CREATED = "profile.created", _("Customer created")
    PROFILE_UPDATED = "profile.updated", _("Customer data changed")
    PROFILE_ERASED = "profile.erased", _("Customer erased")
    CONSENT_CHANGED = "consent.changed", _("Permission changed")
    PING = "ping", _("Test request")


def _webhook_secret() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class WebhookEndpoint(TimeStampedModel):
    """A URL of the shop's own systems that hears about changes made in Klantbeeld."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(
        _("URL"), max_length=500, help_text=_("Receives a JSON POST for every change.")
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=_webhook_secret,
        help_text=_(
            "Every request carries an HMAC-SHA256 signature made with this secret in the "
            "Klantbeeld-Signature header; the receiver checks it."
        ),
    )
    events = models.JSONField(
        _("events"), default=list, help_text=_("The kinds of change this URL hears about.")
    )
    include_api_changes = models.BooleanField(
        _("also changes the shop's API made"),
        default=False,
        help_text=_(
            "Off: changes that came in through the API (the shop's own systems) are not "
            "echoed back."
        ),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One change on its way to one endpoint: an outbox row written in the same transaction
    as the change, so nothing is lost when the receiver (or a worker) is down; retried
    with backoff until it is delivered or too old."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("given up")
        CANCELLED = "cancelled", _("cancelled (customer erased)")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("webhook"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    event = models.CharField(_("event"), max_length=30, choices=WebhookEvent.choices)
    profile = models.ForeignKey(
        Profile,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # the (profile, status) index covers it
    )
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("response"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            # The sweep: what is due, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["profile", "status"], name="webhook_profile"),
            models.Index(fields=["endpoint", "-id"], name="webhook_endpoint_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} #{self.pk}"
