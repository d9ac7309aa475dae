from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone


@shared_task(base=DjangoTask)
def rollups_refresh(profile_ids: list[int]) -> int:
    """Recompute what events keep on these customers (after a batch came in)."""
    from .rollups import rollups_refresh_for

    return rollups_refresh_for(profile_ids=profile_ids, now=timezone.now())
