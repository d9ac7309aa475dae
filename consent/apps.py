from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent")

    def ready(self) -> None:
        from core.periodic import register_periodic
        from profiles import registry

        from . import conditions, demo, selectors, services, tasks  # noqa: F401 - tasks: registers them

        registry.register_profile_field("suppressed", selectors.profile_suppressed)
        registry.register_profile_field("consents", selectors.profile_consents)
        registry.register_export_section("consent_ledger", selectors.consent_ledger_export)
        registry.register_export_section(
            "contact_preferences", selectors.contact_preferences_export
        )
        registry.register_export_section("suppressions", selectors.suppressions_export)
        registry.register_eraser("consent", services.consent_erase)
        registry.register_address_hook("suppressions", services.suppressions_follow_addresses)
        registry.register_demo_loader("consents", demo.load_demo_consents)
        registry.register_timeline_source("consent", selectors.consent_timeline)
        conditions.register_selection_conditions()
        register_periodic("expire-opt-ins", lambda now: services.opt_ins_expire(now=now))
