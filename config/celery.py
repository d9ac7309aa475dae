"""The Celery app: workers and beat for the scheduled jobs and mail sending."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("klantbeeld")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
