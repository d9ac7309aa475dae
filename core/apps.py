from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Klantbeeld"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers beat's entry task
        from .periodic import register_periodic
        from .queue import tasks_requeue

        register_periodic("requeue-tasks", lambda now: tasks_requeue(now=now))
