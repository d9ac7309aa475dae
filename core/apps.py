from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Klantbeeld"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers beat's entry task
