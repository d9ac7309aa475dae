from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from core.periodic import register_periodic
        from profiles import registry

        from . import conditions, demo, selectors, services, tracking
        from .scheduler import campaigns_tick

        register_periodic("campaigns", campaigns_tick)
        registry.register_export_section("deliveries", selectors.deliveries_export)
        registry.register_eraser("deliveries", services.deliveries_erase)
        registry.register_timeline_source("deliveries", selectors.deliveries_timeline)
        conditions.register_selection_conditions()
        registry.register_demo_loader("campaigns", demo.load_demo_campaigns)
        registry.register_demo_loader("deliveries", demo.load_demo_deliveries)
        tracking.connect()  # ESP tracking webhooks: opens, clicks, bounces, complaints
