"""Consent in the admin: topics and their texts, the ledger (read-only), suppression,
the privacy statement."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from profiles import registry
from profiles.models import Profile
from profiles.validation import email_normalise

from . import services
from .models import (
    Category,
    ConsentEvent,
    ConsentState,
    ConsentText,
    PrivacyStatement,
    Suppression,
    SuppressionReason,
    Topic,
)
from .selectors import address_hash, suppression_active


class TopicForm(forms.ModelForm):
    """The consent text is edited here; a changed text becomes a new version."""

    text_nl = forms.CharField(
        label=_("consent text (Dutch)"), widget=forms.Textarea(attrs={"rows": 3})
    )
    text_en = forms.CharField(
        label=_("consent text (English)"), widget=forms.Textarea(attrs={"rows": 3})
    )

    class Meta:
        model = Topic
        fields = (
            "key",
            "name_nl",
            "name_en",
            "description_nl",
            "description_en",
            "category",
            "channel",
            "soft_opt_in_allowed",
            "public",
            "position",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.current_text if self.instance.pk else None
        if current:
            self.fields["text_nl"].initial = current.text_nl
            self.fields["text_en"].initial = current.text_en

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A category that is read-only (the topic is in use) is not in the form.
        category = cleaned.get("category", self.instance.category)
        if cleaned.get("soft_opt_in_allowed") and category != Category.COMMERCIAL:
            self.add_error(
                "soft_opt_in_allowed",
                _("Only a commercial topic can use the existing-customer exception."),
            )
        return cleaned


class ConsentTextInline(admin.TabularInline):
    model = ConsentText
    fields = ("version", "text_nl", "text_en", "created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = _("earlier versions of the consent text")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicForm
    list_display = (
        "key",
        "name_nl",
        "name_en",
        "category",
        "soft_opt_in_allowed",
        "public",
        "text_version",
    )
    list_filter = ("category", "public")
    inlines = [ConsentTextInline]

    @admin.display(description=_("text version"))
    def text_version(self, topic: Topic) -> int | None:
        return topic.current_text.version if topic.current_text else None

    def get_readonly_fields(self, request: HttpRequest, obj: Topic | None = None) -> Any:
        # The key is how the API, campaigns and links name a topic: fixed once made.
        if obj is None:
            return ()
        # Once anyone has a record for the topic, its category is what their consent (or
        # opt-out) meant: turning "commercial" into "service" would silently change it.
        in_use = (
            ConsentEvent.objects.filter(topic=obj).exists()
            or ConsentState.objects.filter(topic=obj).exists()
        )
        return ("key", "category") if in_use else ("key",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger points at topics; hide one instead (public = off)

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: Topic, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.topic_text_set(
            topic=obj, text_nl=form.cleaned_data["text_nl"], text_en=form.cleaned_data["text_en"]
        )


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    """The ledger: to read and to prove. Nobody edits or deletes it, not even a superuser."""

    list_display = ("occurred_at", "profile", "topic", "action", "source", "ip", "text_version")
    list_filter = ("action", "source", "topic", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("=profile__user_id", "=email")
    search_help_text = _("Search by user id or the exact address.")
    list_select_related = ("profile", "topic", "consent_text")
    show_full_result_count = False
    readonly_fields = [f.name for f in ConsentEvent._meta.fields]

    @admin.display(description=_("text version"))
    def text_version(self, event: ConsentEvent) -> int | None:
        return event.consent_text.version if event.consent_text else None


class SuppressionForm(forms.ModelForm):
    email = forms.EmailField(
        label=_("email address"), help_text=_("Only its keyed hash is stored.")
    )

    class Meta:
        model = Suppression
        fields = ("note",)

    def clean_email(self) -> str:
        try:
            return email_normalise(self.cleaned_data["email"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """The do-not-contact list. Search by address works although only hashes are kept."""

    list_display = ("created_at", "reason", "profile", "note", "lifted_at", "lifted_because")
    list_filter = (
        "reason",
        ("lifted_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=profile__user_id",)
    search_help_text = _("Search by email address or user id.")
    list_select_related = ("profile",)
    actions = ["lift"]
    form = SuppressionForm

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Suppression], search_term: str
    ) -> tuple[QuerySet[Suppression], bool]:
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term:
            results = results | queryset.filter(email_hash=address_hash(term))
        return results, duplicates

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("email", "note")
        return ("reason", "profile", "created_at", "note", "lifted_at", "lifted_because")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            ()
            if obj is None
            else ("reason", "profile", "created_at", "note", "lifted_at", "lifted_because")
        )

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        if change:
            return
        email = form.cleaned_data["email"]
        profile = Profile.objects.filter(email__lower=email, erased_at=None).first()
        created = services.suppression_add(
            reason=SuppressionReason.MANUAL,
            now=timezone.now(),
            profile=profile,
            email=email,
            note=form.cleaned_data.get("note") or f"by {request.user}",
        )
        for field in Suppression._meta.concrete_fields:  # the admin logs and shows `obj`
            setattr(obj, field.attname, getattr(created, field.attname))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # lift it instead: the history of who was suppressed when stays

    @admin.action(description=_("Lift the selected suppressions"), permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> None:
        now = timezone.now()
        lifted = 0
        for suppression in queryset.filter(lifted_at=None).exclude(reason=SuppressionReason.ERASED):
            services.suppression_lift(
                suppression=suppression, now=now, because=f"lifted by {request.user}"
            )
            lifted += 1
        messages.info(
            request,
            gettext("%(count)d suppressions lifted (erasures are never lifted by hand).")
            % {"count": lifted},
        )


@admin.register(PrivacyStatement)
class PrivacyStatementAdmin(admin.ModelAdmin):
    list_display = ("__str__", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def consent_panel(profile: Profile) -> str:
    """The customer's permissions and do-not-contact status, on their admin page."""
    states = ConsentState.objects.filter(profile=profile).select_related("topic")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                s.topic.key,
                s.get_status_display(),
                s.get_basis_display() if s.basis else "—",
                s.confirmed_at or "—",
                s.withdrawn_at or "—",
            )
            for s in states
        ),
    )
    suppression = suppression_active(profile)
    status = (
        format_html(
            "<p><strong>{}</strong>: {}</p>",
            gettext("Do not contact"),
            suppression.get_reason_display(),
        )
        if suppression
        else ""
    )
    return format_html(
        "{}<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        status,
        gettext("topic"),
        gettext("status"),
        gettext("basis"),
        gettext("confirmed"),
        gettext("withdrawn"),
        rows,
    )


registry.register_admin_panel("consent", _("Consent"), consent_panel)
