"""Roll-ups after event batches: requested per batch, computed in a worker.

With a Redis broker, a batch adds its customers to a set on Redis and one drain task
empties it: a busy customer in fifty batches is refreshed once per drain instead of fifty
times, and a batch costs one Redis round trip instead of queueing a task of its own.
Without Redis (development on SQLite) every batch queues a task, as before.
"""

import functools
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.utils import timezone

# Customers per refresh (one transaction each) when a drain finds many waiting.
DRAIN_CHUNK = 500


@shared_task(base=DjangoTask)
def rollups_refresh(profile_ids: list[int]) -> int:
    """Recompute what events keep on these customers (after a batch came in)."""
    from .rollups import rollups_refresh_for

    return rollups_refresh_for(profile_ids=profile_ids, now=timezone.now())


@functools.cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _keys() -> tuple[str, str]:
    """The set of customers waiting, and the mark that a drain is queued: the queue's own
    (the workers of that queue drain them)."""
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    return f"klantbeeld:{queue}:rollups:waiting", f"klantbeeld:{queue}:rollups:drain-queued"


def _coalesced() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def rollups_request(profile_ids: list[int]) -> None:
    """These customers' roll-ups are due (called after the batch committed)."""
    if not profile_ids:
        return
    if not _coalesced():
        # argsrepr: Celery would otherwise build a safe repr of every id for its logs.
        rollups_refresh.apply_async(  # type: ignore[call-arg]
            (profile_ids,), argsrepr=f"({len(profile_ids)} profile ids)"
        )
        return
    waiting, queued = _keys()
    pipe = _redis().pipeline(transaction=False)
    pipe.sadd(waiting, *profile_ids)
    pipe.set(queued, 1, nx=True, ex=600)
    _added, first = pipe.execute()
    if first:  # no drain queued that has not started yet: queue one
        rollups_drain.delay()


@shared_task(base=DjangoTask)
def rollups_drain() -> int:
    """Refresh every customer waiting, DRAIN_CHUNK at a time; returns how many.

    The mark goes first: a batch that adds customers from here on queues the next drain,
    so none waits for a drain that has already looked. Customers of a refresh that fails
    go back into the set and the error is raised (the next batch's drain takes them, or
    the periodic job "rollups" when no batch comes)."""
    from .rollups import rollups_refresh_for

    if not _coalesced():
        return 0  # nothing waits: every batch queued its own task
    client = _redis()
    waiting, queued = _keys()
    client.delete(queued)
    done = 0
    while popped := client.spop(waiting, DRAIN_CHUNK):
        ids = sorted(int(i) for i in popped)
        try:
            done += rollups_refresh_for(profile_ids=ids, now=timezone.now())
        except BaseException:
            client.sadd(waiting, *ids)
            raise
    return done
