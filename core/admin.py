from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .apikeys import api_key_create
from .errors import DomainError
from .models import ApiKey, KeptTask

admin.site.site_header = _("Klantbeeld")
admin.site.site_title = _("Klantbeeld")
admin.site.index_title = _("Customers, consent and campaigns")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the admin only shows (a log, a ledger, a delivery): nobody adds, changes
    or deletes one here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def refusal_message(request: HttpRequest, exc: DomainError) -> None:
    """A refusal of the domain (core.errors) as the admin shows it: an error message at
    the top of the next page, in the marketer's words."""
    messages.error(request, exc.message)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with `manage.py create_api_key`; the key is shown once."""

    list_display = ("name", "kind", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind",)
    fields = ("name", "kind")
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        key, raw = api_key_create(name=obj.name, kind=obj.kind)
        obj.pk = key.pk
        messages.warning(
            request,
            gettext("The new key is shown only this once; store it safely: %(key)s") % {"key": raw},
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        messages.info(request, gettext("%(count)d keys revoked.") % {"count": count})


@admin.register(KeptTask)
class KeptTaskAdmin(ReadOnlyAdmin):
    """What waits for the broker (Redis) to come back: queued again every minute."""

    list_display = ("name", "kept_at")
