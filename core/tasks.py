"""core's Celery task: beat's entry to the periodic jobs (core/periodic.py)."""

from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from .periodic import periodic_run


@shared_task(base=DjangoTask)
def run_periodic(name: str) -> Any:
    """Beat's entry to a registered periodic job (core.periodic), with the real clock."""
    return periodic_run(name, now=timezone.now())
