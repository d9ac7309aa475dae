from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")

    def ready(self) -> None:
        from django.contrib import admin

        from campaigns.rendering import register_template_context
        from consent.registry import SubscribeQuestion, register_subscribe_question
        from core.periodic import register_periodic
        from profiles import registry

        from . import conditions, dashboard, demo, selectors, services, tasks  # noqa: F401 - tasks: registers them

        register_template_context(
            "survey", services.survey_context, preview=services.survey_preview_context
        )
        register_subscribe_question(
            SubscribeQuestion(
                name="heard_of_us",
                field=services.subscribe_question_field,
                save=services.subscribe_question_save,
            )
        )
        registry.register_export_section("survey_answers", selectors.answers_export)
        registry.register_eraser("survey_answers", services.answers_erase)
        registry.register_profile_field("nps", selectors.latest_nps)
        registry.register_timeline_source("survey_answers", selectors.answers_timeline)
        conditions.register_selection_conditions()
        registry.register_demo_loader("survey_answers", demo.load_demo_answers)
        # The dashboard's figures are computed ahead by beat, so no marketer waits for them.
        register_periodic("dashboard", lambda now: dashboard.dashboard_refresh(now=now))
        # The admin's front page opens with the dashboard (surveys/dashboard.py).
        admin.site.index_template = "admin/dashboard_index.html"
