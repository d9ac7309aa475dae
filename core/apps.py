import logging
from typing import Any

from django.apps import AppConfig

logger = logging.getLogger("core.login")


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Klantbeeld"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers beat's entry task
        from .periodic import register_periodic
        from .queue import tasks_requeue

        register_periodic("requeue-tasks", lambda now: tasks_requeue(now=now))

        from axes.signals import user_locked_out

        user_locked_out.connect(_locked_out, dispatch_uid="core.locked_out")


def _locked_out(sender: Any, **kwargs: Any) -> None:
    # Without the address or the username: personal data stays out of the log.
    logger.warning("admin login locked out after repeated wrong passwords")
