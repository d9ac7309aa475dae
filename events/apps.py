from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Events")

    def ready(self) -> None:
        from core.periodic import register_periodic
        from profiles import registry

        from . import conditions, demo, rollups, selectors, services, tasks

        registry.register_export_section("events", selectors.events_export)
        registry.register_eraser("events", services.events_erase)
        conditions.register_selection_conditions()
        registry.register_timeline_source("events", selectors.events_timeline)
        registry.register_demo_loader("events", demo.load_demo_events)
        register_periodic("lifecycle-nightly", lambda now: rollups.lifecycle_nightly(now=now))
        register_periodic("rollups", lambda now: tasks.rollups_drain(recover=True))
        registry.register_admin_panel("activity", _("Behaviour"), selectors.activity_panel)
