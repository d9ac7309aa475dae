"""The events app's Celery tasks: thin edges that run the roll-ups (events/rollups.py)
and the drain of the roll-up queue (events/rollup_queue.py)."""

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from .rollup_queue import rollups_drain_run
from .rollups import rollups_refresh_for


@shared_task(base=DjangoTask)
def rollups_refresh(profile_ids: list[int]) -> int:
    """Recompute what events keep on these customers (after a batch came in)."""
    return rollups_refresh_for(profile_ids=profile_ids, now=timezone.now())


@shared_task(base=DjangoTask)
def rollups_drain(recover: bool = False) -> int:
    """Refresh every customer waiting on the roll-up queue (rollup_queue.rollups_drain_run)."""
    return rollups_drain_run(recover=recover)
