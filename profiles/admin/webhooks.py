"""Outgoing webhooks in the admin: the endpoints, and the delivery log with "try again"."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.net import TargetRefused, url_check

from ..models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from ..webhooks import webhook_ping, webhooks_retry

SUBSCRIBABLE = [(value, label) for value, label in WebhookEvent.choices if value != "ping"]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Receives a JSON POST for every change."),
    )
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=SUBSCRIBABLE,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The kinds of change this URL hears about."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "events", "include_api_changes", "active")

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError(_("Use an http:// or https:// address."))
        try:
            url_check(url)  # a public address only (WEBHOOK_ALLOWED_NETWORKS aside)
        except TargetRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "active", "waiting", "given_up")
    readonly_fields = ("secret", "created_at", "updated_at")
    actions = ("send_test",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        pending, failed = WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_waiting=Count("deliveries", filter=Q(deliveries__status=pending)),
                n_failed=Count("deliveries", filter=Q(deliveries__status=failed)),
            )
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["name", "url", "events", "include_api_changes", "active"]
        return [*fields, "secret", "created_at", "updated_at"] if obj else fields

    @admin.display(description=_("waiting"))
    def waiting(self, endpoint: Any) -> int:
        return int(endpoint.n_waiting)

    @admin.display(description=_("given up"))
    def given_up(self, endpoint: Any) -> int:
        return int(endpoint.n_failed)

    @admin.action(description=_("Send a test request"), permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_ping(endpoint, now=timezone.now())
        self.message_user(
            request,
            gettext("Test request queued; see the delivery log for the answer."),
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "endpoint",
        "event",
        "status",
        "attempts",
        "response_status",
        "error",
        "next_attempt_at",
    )
    list_filter = ("status", "event", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=event_id", "=profile__user_id")
    search_help_text = _("Search by delivery id or user id.")
    show_full_result_count = False
    actions = ("retry_now",)
    exclude = ("payload",)
    readonly_fields = (
        "event_id",
        "endpoint",
        "event",
        "profile",
        "created_at",
        "status",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "response_status",
        "error",
        "delivered_at",
        "body",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("request body"))
    def body(self, delivery: WebhookDelivery) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(delivery.payload, indent=2, ensure_ascii=False)
        )

    @admin.action(description=_("Try again now"), permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhooks_retry(queryset, now=timezone.now())
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery will be tried again.",
                "%(count)d deliveries will be tried again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
