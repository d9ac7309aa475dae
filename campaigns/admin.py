"""The marketer's campaigns: rules with templates per language, preview and test send,
the frequency policy, the proposition matrix, and the logs of sends and deliveries."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from profiles.admin import staff_user
from profiles.models import Profile

from .models import (
    Campaign,
    Delivery,
    FrequencyPolicy,
    Proposition,
    PropositionRule,
    Send,
    SunsetPolicy,
    Template,
)
from .propositions import propositions_for
from .rendering import RenderError, preview_context, render, template_check
from .selectors import GOOD_PRACTICE, live_extra_count


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ("language", "subject", "preheader", "html", "text")
        widgets = {
            "html": forms.Textarea(attrs={"rows": 12, "cols": 100, "class": "vLargeTextField"}),
            "text": forms.Textarea(attrs={"rows": 8, "cols": 100}),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        probe = Template(
            **{k: cleaned.get(k, "") for k in ("subject", "preheader", "html", "text")}
        )
        errors = template_check(probe)
        if errors:
            raise forms.ValidationError(
                [gettext("The template has an error: %(error)s") % {"error": e} for e in errors]
            )
        return cleaned


class TemplateInline(admin.StackedInline):
    model = Template
    form = TemplateForm
    extra = 0
    max_num = 2
    min_num = 1


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "trigger", "topic", "priority", "is_default", "preview_link")
    list_filter = ("status", "trigger", "topic")
    search_fields = ("name", "key")
    inlines = [TemplateInline]
    readonly_fields = ("is_default", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "key", "status", "topic", "priority", "is_default")}),
        (
            _("When"),
            {
                "fields": (
                    "trigger",
                    "trigger_event",
                    "trigger_field",
                    "trigger_number",
                    "delay",
                    "send_at_local_time",
                    "scheduled_at",
                )
            },
        ),
        (
            _("Who and how often"),
            {"fields": ("selection", "exit_events", "reentry", "reentry_days")},
        ),
        (
            _("Send window and cut-off"),
            {"fields": ("window_start", "window_end", "late_cutoff")},
        ),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archive instead: deliveries and reports keep pointing at it

    @admin.display(description=_("preview"))
    def preview_link(self, campaign: Campaign) -> str:
        url = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Preview"))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        count = live_extra_count()
        low, high = GOOD_PRACTICE
        text = ngettext(
            "%(count)d live campaign besides the lifecycle defaults (good practice: %(low)d to %(high)d).",
            "%(count)d live campaigns besides the lifecycle defaults (good practice: %(low)d to %(high)d).",
            count,
        ) % {"count": count, "low": low, "high": high}
        level = messages.INFO if low <= count <= high else messages.WARNING
        if request.method == "GET":
            self.message_user(request, text, level)
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_campaign_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The mail as a chosen customer would get it; POST sends a test to the marketer."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign.objects.select_related("topic"), pk=pk)
        user_id = (request.POST or request.GET).get("profile", "").strip()
        language = (request.POST or request.GET).get("language", "nl")
        profile = (
            Profile.objects.filter(user_id=user_id, erased_at=None).first()
            if user_id
            else Profile.objects.filter(erased_at=None).order_by("pk").first()
        )
        template = campaign.templates.filter(language=language).first()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": gettext("Preview: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "opts": self.model._meta,
            "profile": profile,
            "language": language,
            "user_id": user_id or (profile.user_id if profile else ""),
        }
        if profile is None or template is None:
            context["problem"] = (
                gettext("No customer with this user id.")
                if profile is None
                else gettext("This campaign has no template in this language.")
            )
            return TemplateResponse(request, "admin/campaigns/preview.html", context)
        offers = propositions_for(profile)
        extra = preview_context(campaign, profile, language)
        if offers:
            extra["proposition"] = offers[0].shown(language)
        try:
            rendered = render(template, profile, campaign, extra)
        except RenderError as exc:
            context["problem"] = str(exc)
            return TemplateResponse(request, "admin/campaigns/preview.html", context)
        context["rendered"] = rendered
        if request.method == "POST" and "test_send" in request.POST:
            if not self.has_change_permission(request):
                raise PermissionDenied
            to = staff_user(request).email
            if not to:
                self.message_user(
                    request, gettext("Your account has no email address."), messages.ERROR
                )
            else:
                message = EmailMultiAlternatives(
                    subject=f"[TEST] {rendered.subject}", body=rendered.text, to=[to]
                )
                message.attach_alternative(rendered.html, "text/html")
                message.send()
                self.message_user(
                    request,
                    gettext("Test mail sent to %(address)s.") % {"address": to},
                    messages.SUCCESS,
                )
        return TemplateResponse(request, "admin/campaigns/preview.html", context)


@admin.register(Send)
class SendAdmin(ReadOnlyAdmin):
    """Why someone did (not) get a mail: every send with its status and reason."""

    show_full_result_count = False

    list_display = ("due_at", "campaign", "profile", "status", "reason", "deferrals", "finished_at")
    list_filter = ("status", "reason", "campaign")
    search_fields = ("=profile__user_id",)
    search_help_text = _("Search by user id.")
    list_select_related = ("campaign", "profile")
    ordering = ("-due_at",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    show_full_result_count = False
    list_display = (
        "sent_at",
        "campaign",
        "profile",
        "subject",
        "accepted_at",
        "opened_at",
        "clicked_at",
        "bounced_at",
    )
    list_filter = ("campaign", "category")
    search_fields = ("=profile__user_id", "=message_id")
    search_help_text = _("Search by user id or message id.")
    list_select_related = ("campaign", "profile")


class OneRowAdmin(admin.ModelAdmin):
    """A policy that exists once: it can be added while missing, never deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not self.model._default_manager.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FrequencyPolicy)
class FrequencyPolicyAdmin(OneRowAdmin):
    list_display = ("__str__", "cap_service", "updated_at", "updated_by")
    fields = ("max_per_day", "max_per_week", "cap_service")

    def save_model(
        self, request: HttpRequest, obj: FrequencyPolicy, form: Any, change: bool
    ) -> None:
        obj.updated_by = staff_user(request)
        super().save_model(request, obj, form, change)


@admin.register(SunsetPolicy)
class SunsetPolicyAdmin(OneRowAdmin):
    list_display = ("__str__", "active", "updated_at")
    fields = ("active", "mails", "days", "grace_days")


class PropositionRuleInline(admin.TabularInline):
    model = PropositionRule
    extra = 1


@admin.register(Proposition)
class PropositionAdmin(admin.ModelAdmin):
    list_display = (
        "key",
        "title_nl",
        "offers_category",
        "offers_product_id",
        "is_default",
        "active",
    )
    list_filter = ("active", "is_default")
    search_fields = ("key", "title_nl", "title_en")
    inlines = [PropositionRuleInline]


@admin.register(PropositionRule)
class PropositionRuleAdmin(admin.ModelAdmin):
    """The product/proposition matrix at a glance."""

    list_display = ("id", "product_id", "category", "proposition", "priority")
    list_display_links = ("id",)
    list_editable = ("product_id", "category", "proposition", "priority")
    list_filter = ("proposition",)
    search_fields = ("product_id", "category")
