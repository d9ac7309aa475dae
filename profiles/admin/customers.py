"""The marketer's view of the master list: search, filter, edit, history, import and
export of customers."""

import contextlib
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.spreadsheet import csv_stream

from .. import registry, services
from ..importing import import_job_create
from ..models import ChangeSource, ImportJob, Profile
from ..selectors import EXPORT_COLUMNS, VALUE_FIGURES, profile_export_rows
from ..validation import WRITABLE_FIELDS, postal_code_normalise, profile_data_clean
from .common import staff_user
from .filters import CountryFilter, HasOrdersFilter
from .history import change_summary
from .imports import ImportForm

HISTORY_SHOWN = 50

TIMELINE_SHOWN = 50


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileAdminForm(forms.ModelForm):
    """Checks with the same rules as every other way in (profile_data_clean)."""

    timezone = forms.ChoiceField(label=_("Time zone"), choices=_timezone_choices)

    class Meta:
        model = Profile
        fields = ("user_id", *WRITABLE_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        fields = [f for f in WRITABLE_FIELDS if f in cleaned]
        data = {f: cleaned[f] for f in fields}
        try:
            clean = profile_data_clean(data, today=timezone.localdate(), require_email=True)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
            return cleaned
        cleaned.update(clean)
        return cleaned


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    list_display = (
        "user_id",
        "email",
        "first_name",
        "last_name",
        "postal_code",
        "city",
        "country",
        "language",
        "lifecycle_stage",
        "order_count",
        "total_spent",
        "last_order_at",
        "created_at",
    )
    list_display_links = ("user_id", "email")
    list_filter = (
        "lifecycle_stage",
        "language",
        CountryFilter,
        ("created_at", admin.DateFieldListFilter),
        HasOrdersFilter,
    )
    search_fields = ("user_id",)  # shows the search box; the search itself is below
    search_help_text = _(
        "Search by user id, (the start of) an email address or a name, or a postal code."
    )
    readonly_fields = (
        *VALUE_FIGURES,
        "created_at",
        "updated_at",
        "panels",
        "activity_timeline",
        "history",
    )
    ordering = ("-created_at",)
    list_per_page = 50
    show_full_result_count = False
    actions = ["export_selected", "erase_selected"]
    change_list_template = "admin/profiles/profile/change_list.html"
    fieldsets = (
        (None, {"fields": ("user_id", "email", "first_name", "last_name", "birth_date", "phone")}),
        (_("Address"), {"fields": ("street", "house_number", "postal_code", "city", "country")}),
        (
            _("Preferences and segment"),
            {"fields": ("language", "timezone", "lifecycle_stage", "acquisition_source")},
        ),
        (_("Value (kept by events, read-only)"), {"fields": VALUE_FIGURES}),
        (_("Custom attributes"), {"fields": ("custom_attributes",)}),
        (None, {"fields": ("created_at", "updated_at")}),
        (_("Permissions and other records"), {"fields": ("panels",)}),
        (_("Activity"), {"fields": ("activity_timeline",)}),
        (_("Change history"), {"fields": ("history",)}),
    )

    @admin.display(description="")
    def panels(self, profile: Profile) -> str:
        """What the apps above add to a customer's page (consents, events, deliveries …)."""
        if not profile.pk:
            return "—"
        return format_html_join(
            "",
            "<h3>{}</h3>{}",
            ((title, func(profile)) for title, func in registry.admin_panels.values()),
        )

    @admin.display(description=_("timeline"))
    def activity_timeline(self, profile: Profile) -> str:
        """Events, permissions, mails … as they land, newest first."""
        if not profile.pk:
            return "—"
        items = registry.timeline(profile, TIMELINE_SHOWN)
        if not items:
            return gettext("Nothing yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(item.at), "SHORT_DATETIME_FORMAT"),
                    item.kind,
                    format_html('<a href="{}">{}</a>', item.url, item.title)
                    if item.url
                    else item.title,
                    item.detail,
                )
                for item in items
            ),
        )
        return format_html(
            '<table class="timeline"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            gettext("when"),
            gettext("what"),
            gettext("record"),
            gettext("details"),
            rows,
        )

    @admin.display(description=_("latest changes"))
    def history(self, profile: Profile) -> str:
        """The latest changes of this customer, newest first, with a link to all of them."""
        if not profile.pk:
            return "—"
        changes = list(profile.changes.select_related("actor")[:HISTORY_SHOWN])
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(c.changed_at), "SHORT_DATETIME_FORMAT"),
                    c.get_source_display(),
                    c.actor or "—",
                    change_summary(c),
                    c.note or "",
                )
                for c in changes
            ),
        )
        everything = (
            reverse("admin:profiles_profilechange_changelist") + f"?profile__id__exact={profile.pk}"
        )
        return format_html(
            '<table id="profile-history"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            '<th>{}</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            gettext("when"),
            gettext("through"),
            gettext("by"),
            gettext("what changed"),
            gettext("note"),
            rows,
            everything,
            gettext("All changes of this customer"),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Profile | None = None) -> Any:
        # The user id is the shop's key: set once, never edited by hand.
        if obj is not None:
            return (*self.readonly_fields, "user_id")
        return self.readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Profile], search_term: str
    ) -> tuple[QuerySet[Profile], bool]:
        """The exact user id, the start of an address or a name, or a postal code: each
        served by an index, so a search stays instant at a million customers."""
        term = " ".join(search_term.split())
        if not term:
            return queryset, False
        match = Q(user_id=term) | Q(email__lower__startswith=term.lower())
        if "@" not in term:
            match |= Q(last_name__istartswith=term) | Q(first_name__istartswith=term)
            first, _, rest = term.partition(" ")
            if rest:  # "Anna de Vries"
                match |= Q(first_name__iexact=first, last_name__istartswith=rest)
        with contextlib.suppress(ValidationError):  # not a postal code: fine
            match |= Q(postal_code=postal_code_normalise(term, country="NL"))
        return queryset.filter(match), False

    def save_model(self, request: HttpRequest, obj: Profile, form: Any, change: bool) -> None:
        data = {
            f: form.cleaned_data[f]
            for f in WRITABLE_FIELDS
            if f in form.cleaned_data and (not change or f in form.changed_data)
        }
        if change:
            current = Profile.objects.get(pk=obj.pk)
            if "custom_attributes" in data:
                # The form shows the whole set: a key the marketer deleted is removed.
                new = data["custom_attributes"] or {}
                gone = {k: None for k in current.custom_attributes if k not in new}
                data["custom_attributes"] = {**gone, **new}
            services.profile_update(
                profile=current, data=data, source=ChangeSource.ADMIN, actor=staff_user(request)
            )
        else:
            created = services.profile_create(
                user_id=form.cleaned_data["user_id"],
                data=data,
                source=ChangeSource.ADMIN,
                actor=staff_user(request),
            )
            obj.pk = created.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A customer is never deleted (the consent ledger must stay whole): erase instead.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        return super().get_queryset(request).filter(erased_at=None)

    # --- Erasure ---------------------------------------------------------------------

    @admin.action(
        description=_("Erase the personal data of the selected customers"), permissions=["erase"]
    )
    def erase_selected(
        self, request: HttpRequest, queryset: QuerySet[Profile]
    ) -> HttpResponse | None:
        """Two steps: a page that says what will happen, then the erasure on confirmation."""
        if request.POST.get("confirm") == "yes":
            now = timezone.now()
            count = 0
            for profile in queryset:
                services.profile_erase(
                    profile=profile, now=now, source=ChangeSource.ADMIN, actor=staff_user(request)
                )
                count += 1
            messages.success(request, gettext("%(count)d customers erased.") % {"count": count})
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase personal data"),
            "opts": self.opts,
            "profiles": queryset[:200],
            "count": queryset.count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action": "erase_selected",
        }
        return TemplateResponse(request, "admin/profiles/profile/erase_confirm.html", context)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.erase_profile")

    # --- Export ----------------------------------------------------------------------

    def _csv_response(self, queryset: QuerySet[Profile]) -> HttpResponseBase:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(
            csv_stream(EXPORT_COLUMNS, profile_export_rows(queryset)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="klantbeeld-profiles-{stamp}.csv"'
        return response

    @admin.action(description=_("Export selected customers to CSV"), permissions=["view"])
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[Profile]
    ) -> HttpResponseBase:
        return self._csv_response(queryset)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The whole current list, with the search and filters the marketer has on."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:profiles_profile_changelist") + "?e=1")
        return self._csv_response(changelist.get_queryset(request))

    # --- Import ----------------------------------------------------------------------

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            job = import_job_create(
                filename=upload.name, content=upload.read(), dry_run=True, actor=staff_user(request)
            )
            return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import customers"),
            "form": form,
            "opts": self.opts,
            "columns": EXPORT_COLUMNS[:15],
            "recent_jobs": ImportJob.objects.defer("content").order_by("-created_at")[:10],
        }
        return TemplateResponse(request, "admin/profiles/profile/import.html", context)

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="profiles_profile_export",
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="profiles_profile_import",
            ),
        ]
        return extra + super().get_urls()
