from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    """Base for rows that carry their own creation and last-change time (UTC)."""

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class ApiKey(models.Model):
    """A key for the HTTP API. Only its SHA-256 hash is stored; the key is shown once.

    A write key can only write events (the Segment-compatible API); an admin token
    reaches the management API and nothing else. The two are never interchangeable.
    """

    class Kind(models.TextChoices):
        WRITE = "write", _("write key (event API)")
        ADMIN = "admin", _("admin token (management API)")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    prefix = models.CharField(_("starts with"), max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.prefix}…)"


class KeptTask(models.Model):
    """A task the broker could not take when it was queued (Redis down): kept here, in
    the database that committed the work, and queued again by the periodic job
    "requeue-tasks" once the broker is back (core.queue)."""

    name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list)
    kept_at = models.DateTimeField(_("kept since"), auto_now_add=True)

    class Meta:
        verbose_name = _("task waiting for the broker")
        verbose_name_plural = _("tasks waiting for the broker")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
