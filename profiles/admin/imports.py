"""Imports started in the admin: the upload form and the job's page (progress, dry run,
refused rows)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import refusal_message
from core.errors import DomainError

from ..importing import STALLED_AFTER, import_job_confirm
from ..models import ImportJob
from .common import staff_user


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
        except DomainError as exc:
            refusal_message(request, exc)
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
