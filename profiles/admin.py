"""The marketer's view of the master list: search, filter, edit, history, import, export."""

import contextlib
import json
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from core.spreadsheet import csv_stream

from . import registry, services
from .importing import STALLED_AFTER, import_job_confirm, import_job_create
from .models import ChangeSource, ImportJob, Profile, ProfileChange, Selection
from .selections import kinds_describe, selection_profiles, selection_q
from .selectors import EXPORT_COLUMNS, profile_export_rows
from .validation import WRITABLE_FIELDS, postal_code_normalise, profile_data_clean


def staff_user(request: HttpRequest) -> User:
    """The logged-in staff member (admin views are only reached when logged in)."""
    assert isinstance(request.user, User)  # noqa: S101 - admin_view guarantees it
    return request.user


HISTORY_SHOWN = 50
TIMELINE_SHOWN = 50
VALUE_FIGURES = ("order_count", "total_spent", "first_order_at", "last_order_at", "last_seen_at")


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


class HasOrdersFilter(admin.SimpleListFilter):
    title = _("has orders")
    parameter_name = "has_orders"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        if self.value() == "yes":
            return queryset.filter(order_count__gt=0)
        if self.value() == "no":
            return queryset.filter(order_count=0)
        return queryset


class CountryFilter(admin.SimpleListFilter):
    """Only the countries customers actually live in (not all 250), most common first."""

    title = _("country")
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        key = "profiles:country-filter"
        codes = cache.get(key)
        if codes is None:
            codes = list(
                Profile.objects.exclude(country="")
                .values("country")
                .annotate(n=Count("pk"))
                .order_by("-n")
                .values_list("country", flat=True)[:60]
            )
            cache.set(key, codes, 600)
        return [(code, countries.name(code)) for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        if self.value():
            return queryset.filter(country=self.value())
        return queryset


def change_summary(change: ProfileChange) -> str:
    if change.erased:
        return format_html(
            "<em>{}</em>: {}",
            gettext("personal data erased"),
            ", ".join(sorted(change.changes)),
        )
    return format_html_join(
        "",
        "<div><strong>{}</strong>: {} → {}</div>",
        ((field, _shown(old), _shown(new)) for field, (old, new) in sorted(change.changes.items())),
    )


def _shown(value: Any) -> str:
    if value in (None, ""):
        return "—"
    return str(value)


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


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("The first row names the columns; user_id and email are required."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt", ".xlsx", ".xlsm")):
            raise ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > 200 * 1024 * 1024:
            raise ValidationError(
                _("The file is larger than 200 MB; use the import_profiles command.")
            )
        return upload


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "filename",
        "dry_run",
        "status",
        "progress",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "dry_run")
    list_select_related = ("created_by",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportJob]:
        return super().get_queryset(request).defer("content")  # files can be large

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # imports start from the customer list's "Import" button

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("progress"))
    def progress(self, job: ImportJob) -> str:
        return f"{job.percent}%"

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "<int:pk>/run/",
                self.admin_site.admin_view(self.run_view),
                name="profiles_importjob_run",
            )
        ]
        return extra + super().get_urls()

    def run_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """After a dry run the marketer confirms: the same file is imported for real."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[pk]))
        if not (
            request.user.has_perm("profiles.add_profile")
            and request.user.has_perm("profiles.change_profile")
        ):
            raise PermissionDenied
        earlier = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
        startable = (earlier.dry_run and earlier.status == ImportJob.Status.DONE) or (
            not earlier.dry_run and earlier.status == ImportJob.Status.FAILED
        )
        if not startable:
            return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[pk]))
        try:
            job = import_job_confirm(dry_run=earlier, actor=staff_user(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[pk]))
        messages.info(request, gettext("The import has started."))
        return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[job.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """Progress while it runs (the page refreshes itself), then the outcome per row."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=object_id)
        source = job.source_job_id or job.pk
        file_kept = ImportJob.objects.filter(pk=source).exclude(content=b"").exists()
        may_import = request.user.has_perm("profiles.add_profile") and request.user.has_perm(
            "profiles.change_profile"
        )
        stalled = (
            job.status == ImportJob.Status.RUNNING
            and job.heartbeat_at is not None
            and timezone.now() - job.heartbeat_at > STALLED_AFTER
        )
        context = {
            **self.admin_site.each_context(request),
            "title": str(job),
            "opts": self.opts,
            "job": job,
            "running": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
            "can_import": may_import and file_kept and job.dry_run and job.status == "done",
            "can_restart": may_import and file_kept and not job.dry_run and job.status == "failed",
            "stalled": stalled,
            "file_gone": not file_kept,
        }
        return TemplateResponse(request, "admin/profiles/importjob/detail.html", context)


@admin.register(ProfileChange)
class ProfileChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "profile", "source", "actor", "what_changed")
    list_filter = ("source", ("changed_at", admin.DateFieldListFilter))
    search_fields = ("=profile__user_id",)
    search_help_text = _("Search by user id.")
    list_select_related = ("profile", "actor")
    show_full_result_count = False
    readonly_fields = (
        "profile",
        "changed_at",
        "source",
        "actor",
        "created",
        "what_changed",
        "note",
        "erased",
    )
    exclude = ("changes",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("what changed"))
    def what_changed(self, change: ProfileChange) -> str:
        return change_summary(change)


class SelectionForm(forms.ModelForm):
    class Meta:
        model = Selection
        fields = ("name", "description", "definition")

    def clean_definition(self) -> Any:
        definition = self.cleaned_data["definition"]
        try:
            selection_q(definition, now=timezone.now())
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return definition


@admin.register(Selection)
class SelectionAdmin(admin.ModelAdmin):
    """Build a selection from conditions; the count and a preview follow while editing."""

    form = SelectionForm
    list_display = ("name", "description", "updated_at", "created_by")
    search_fields = ("name", "description")
    actions = ["export_matching"]

    def save_model(self, request: HttpRequest, obj: Selection, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = staff_user(request)
        super().save_model(request, obj, form, change)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context["selection_kinds"] = kinds_describe()
        context["selection_texts"] = {
            "not": gettext("not"),
            "all": gettext("all of these"),
            "any": gettext("any of these"),
            "match": gettext("match"),
            "condition": gettext("condition"),
            "group": gettext("group"),
            "remove": gettext("remove"),
            "remove_group": gettext("remove group"),
            "kind": gettext("kind of condition"),
            "counting": gettext("counting…"),
            "failed": gettext("The count could not be made."),
        }
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="profiles_selection_preview",
            ),
            path(
                "<int:pk>/export/",
                self.admin_site.admin_view(self.export_view),
                name="profiles_selection_export",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The live count and the first matching customers of a definition being edited."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        try:
            definition = json.loads(request.body or b"{}").get("definition")
            profiles = selection_profiles(definition, now=timezone.now())
            count = profiles.count()
        except (ValueError, AttributeError):
            return JsonResponse({"error": gettext("The conditions could not be read.")})
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)})
        preview = [
            {
                "user_id": p.user_id,
                "email": p.email,
                "name": p.full_name,
                "url": reverse("admin:profiles_profile_change", args=[p.pk]),
            }
            for p in profiles.order_by("-created_at")[:10]
        ]
        count_text = ngettext("%(count)d customer", "%(count)d customers", count) % {"count": count}
        return JsonResponse({"count": count, "count_text": count_text, "preview": preview})

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        if not self.has_view_permission(request) or not request.user.has_perm(
            "profiles.view_profile"
        ):
            raise PermissionDenied
        selection = get_object_or_404(Selection, pk=pk)
        return _selection_csv(selection)

    @admin.action(description=_("Export the matching customers to CSV"), permissions=["view"])
    def export_matching(
        self, request: HttpRequest, queryset: QuerySet[Selection]
    ) -> HttpResponseBase:
        return _selection_csv(queryset.first())  # type: ignore[arg-type]


def _selection_csv(selection: Selection) -> HttpResponseBase:
    profiles = selection_profiles(selection.definition, now=timezone.now())
    response = StreamingHttpResponse(
        csv_stream(EXPORT_COLUMNS, profile_export_rows(profiles)),
        content_type="text/csv; charset=utf-8",
    )
    slug = "".join(c if c.isalnum() else "-" for c in selection.name.lower())[:50]
    response["Content-Disposition"] = f'attachment; filename="selection-{slug}.csv"'
    return response


from . import admin_webhooks  # noqa: E402, F401 - registers the webhook admin
