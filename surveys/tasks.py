from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from .dashboard import dashboard_refresh


@shared_task(base=DjangoTask)
def dashboard_refresh_task() -> Any:
    """New dashboard figures, asked for by a page that showed stale ones."""
    return dashboard_refresh(now=timezone.now())
