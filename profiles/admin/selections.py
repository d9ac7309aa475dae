"""Selections: the builder, the count and preview, the CSV export."""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.spreadsheet import csv_stream

from ..models import Selection
from ..selections import kinds_describe, selection_profiles, selection_q
from ..selectors import EXPORT_COLUMNS, profile_export_rows
from .common import staff_user


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
