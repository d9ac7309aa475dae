from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from core.periodic import register_periodic

        from .importing import import_jobs_tidy
        from .webhooks import webhook_log_tidy, webhooks_deliver_due

        register_periodic("webhooks", lambda now: webhooks_deliver_due(now=now))
        register_periodic("tidy-import-jobs", lambda now: import_jobs_tidy(now=now))
        register_periodic("tidy-webhook-log", lambda now: webhook_log_tidy(now=now))
