import datetime as dt

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from core.periodic import register_periodic

        from . import registry, tasks  # noqa: F401 - tasks: registers the app's Celery tasks
        from .importing import import_jobs_erase, import_jobs_tidy
        from .models import Profile
        from .webhooks import webhook_log_tidy, webhooks_deliver_due

        def erase_import_jobs(profile: Profile, now: dt.datetime, email: str) -> None:
            # Kept import files and reports hold the person too (the email before erasure).
            import_jobs_erase(email=email, user_id=profile.user_id)

        registry.register_eraser("import-jobs", erase_import_jobs)

        register_periodic("webhooks", lambda now: webhooks_deliver_due(now=now))
        register_periodic("tidy-import-jobs", lambda now: import_jobs_tidy(now=now))
        register_periodic("tidy-webhook-log", lambda now: webhook_log_tidy(now=now))
