"""Surveys in the admin: the questions, the answers (staff can enter one heard in the shop
or on the phone), and the results with charts and a CSV export."""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from core.spreadsheet import csv_stream
from profiles.admin import staff_user
from profiles.models import Profile, Selection
from profiles.selections import selection_profiles

from .models import Answer, AnswerSource, Invitation, Survey, SurveyKind
from .selectors import (
    attribution_by_channel,
    nps_by_month,
    nps_report,
    ranking_averages,
    response_rates,
)
from .services import answer_clean, answer_submit


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "invitation_campaign", "active", "results_link")
    list_filter = ("kind", "active")
    readonly_fields = ("created_at", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("results"))
    def results_link(self, survey: Survey) -> str:
        url = reverse("admin:surveys_survey_results", args=[survey.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Results"))

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/results/",
                self.admin_site.admin_view(self.results_view),
                name="surveys_survey_results",
            ),
            path(
                "<int:pk>/results.csv",
                self.admin_site.admin_view(self.results_csv),
                name="surveys_survey_results_csv",
            ),
            *super().get_urls(),
        ]

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        survey = get_object_or_404(Survey, pk=pk)
        selection = None
        profiles = None
        if request.GET.get("selection"):
            selection = Selection.objects.filter(pk=request.GET["selection"]).first()
            if selection:
                profiles = selection_profiles(selection.definition, now=timezone.now())
        data: dict[str, Any] = {"kind": survey.kind}
        if survey.kind == SurveyKind.NPS:
            data["overall"] = nps_report(start=None, end=None, profiles=profiles)
            data["months"] = nps_by_month(months=12, profiles=profiles)
        elif survey.kind == SurveyKind.ATTRIBUTION:
            attribution = attribution_by_channel(months=12)
            data["totals"] = [
                {"choice": survey.option_label(k), "count": n}
                for k, n in attribution["totals"].items()
            ]
            data["per_month"] = attribution["per_month"]
            data["other_texts"] = attribution["other_texts"]
        elif survey.kind == SurveyKind.RANKING:
            data["ranking"] = [
                {"reason": survey.option_label(k), "average": avg, "answers": n}
                for k, avg, n in ranking_averages(survey)
            ]
        else:
            data["totals"] = [
                {"choice": survey.option_label(row["choice"]), "count": row["n"]}
                for row in survey.answers.values("choice").annotate(n=Count("id")).order_by("-n")
            ]
        rates = [r for r in response_rates() if r["survey"] == survey.key]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Results: %(name)s") % {"name": survey.name},
            "opts": self.model._meta,
            "survey": survey,
            "data": data,
            "data_json": json.dumps(data, default=str),
            "rate": rates[0] if rates else None,
            "selections": Selection.objects.order_by("name"),
            "selection": selection,
        }
        return TemplateResponse(request, "admin/surveys/results.html", context)

    def results_csv(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        survey = get_object_or_404(Survey, pk=pk)
        header = ["submitted_at", "user_id", "score", "answer", "other", "ranking", "why", "source"]
        rows = (
            [
                a.submitted_at.isoformat(),
                a.profile.user_id,
                "" if a.score is None else a.score,
                a.choice,
                a.other_text,
                json.dumps(a.ranking) if a.ranking else "",
                a.why,
                a.source,
            ]
            for a in survey.answers.select_related("profile").order_by("submitted_at").iterator()
        )
        response = StreamingHttpResponse(
            csv_stream(header, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{survey.key}-answers.csv"'
        return response


class StaffAnswerForm(forms.ModelForm):
    """An answer a member of staff heard in the shop or on the phone."""

    user_id = forms.CharField(label=_("customer (user id)"), max_length=255)
    rank_data = forms.CharField(
        label=_("ranking"),
        required=False,
        help_text=_('Reasons ranking only: e.g. {"quality": 1, "price": 2, …}'),
    )

    class Meta:
        model = Answer
        fields = ("survey", "score", "choice", "other_text", "why")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        profile = Profile.objects.filter(user_id=cleaned.get("user_id", ""), erased_at=None).first()
        if profile is None:
            raise ValidationError({"user_id": gettext("No customer with this user id.")})
        cleaned["profile"] = profile
        survey = cleaned.get("survey")
        if survey is None:
            return cleaned
        data: dict[str, Any] = {
            key: cleaned.get(key) for key in ("score", "choice", "other_text", "why")
        }
        try:
            ranking = json.loads(cleaned.get("rank_data") or "{}")
        except ValueError:
            raise ValidationError({"rank_data": gettext("Not valid JSON.")}) from None
        if isinstance(ranking, dict):
            data.update({f"rank_{key}": rank for key, rank in ranking.items()})
        try:
            answer_clean(survey, data)
        except ValidationError as exc:
            fields = {"ranking": "rank_data"}
            raise ValidationError(
                {fields.get(k, k): v for k, v in exc.message_dict.items()}
            ) from None
        cleaned["answer_data"] = data
        return cleaned


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ("submitted_at", "survey", "profile", "score", "choice", "source")
    list_filter = ("survey", "source")
    search_fields = ("=profile__user_id",)
    search_help_text = _("Search by user id.")
    list_select_related = ("survey", "profile")
    show_full_result_count = False

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = StaffAnswerForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("survey", "user_id", "score", "choice", "other_text", "rank_data", "why")
        return (
            "survey",
            "profile",
            "source",
            "submitted_at",
            "score",
            "choice",
            "other_text",
            "ranking",
            "why",
            "follow_up",
            "entered_by",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj) if obj else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an answer is what the customer said

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Answer, form: Any, change: bool) -> None:
        """Through the service, so the answer feeds the profile and emits its event."""
        saved = answer_submit(
            survey=form.cleaned_data["survey"],
            profile=form.cleaned_data["profile"],
            data=form.cleaned_data["answer_data"],
            now=timezone.now(),
            source=AnswerSource.STAFF,
            entered_by=staff_user(request),
        )
        for field in ("pk", "profile", "survey", "submitted_at", "source", "entered_by"):
            setattr(obj, field, getattr(saved, field))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related; the answer is saved by save_model


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "survey", "profile", "answered")
    list_filter = ("survey",)
    search_fields = ("=profile__user_id",)
    list_select_related = ("survey", "profile")
    exclude = ("nonce",)
    show_full_result_count = False

    @admin.display(boolean=True, description=_("answered"))
    def answered(self, invitation: Invitation) -> bool:
        return hasattr(invitation, "answer")
