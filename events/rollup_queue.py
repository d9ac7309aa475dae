"""The roll-up queue: which customers' roll-ups are waiting, and the drain that refreshes
them (the tasks in events/tasks.py run it on a worker).

With a Redis broker, a batch adds its customers to a set on Redis and one drain task
empties it: a busy customer in fifty batches is refreshed once per drain instead of fifty
times, and a batch costs one Redis round trip instead of queueing a task of its own.
Without Redis (development on SQLite) every batch queues a task, as before.
"""

import functools
import logging
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from core.queue import BROKER_DOWN, task_keep, task_queue

from . import rollups

logger = logging.getLogger(__name__)

# Customers per refresh (one transaction each) when a drain finds many waiting.
DRAIN_CHUNK = 500


@functools.cache
def _redis() -> Any:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def rollups_keys() -> tuple[str, str, str, str]:
    """The queue's own keys (the workers of that queue drain them): customers waiting, the
    mark that a drain is queued, customers a drain has taken and not finished, and
    customers whose refresh failed."""
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    prefix = f"klantbeeld:{queue}:rollups"
    return f"{prefix}:waiting", f"{prefix}:drain-queued", f"{prefix}:taken", f"{prefix}:failed"


# Take up to ARGV[1] waiting customers and keep them as taken, in one step: a worker that
# dies mid-refresh leaves them there for the periodic job, not nowhere.
_TAKE = """
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
if #ids > 0 then redis.call('SADD', KEYS[2], unpack(ids)) end
return ids
"""


def _coalesced() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def rollups_request(profile_ids: list[int]) -> None:
    """These customers' roll-ups are due (called after the batch committed)."""
    if not profile_ids:
        return
    if not _coalesced():
        # argsrepr: Celery would otherwise build a safe repr of every id for its logs.
        task_queue(
            "events.tasks.rollups_refresh",
            profile_ids,
            on_commit=False,  # called after the batch committed
            argsrepr=f"({len(profile_ids)} profile ids)",
        )
        return
    waiting, queued, _taken, _failed = rollups_keys()
    pipe = _redis().pipeline(transaction=False)
    pipe.sadd(waiting, *profile_ids)
    pipe.set(queued, 1, nx=True, ex=600)
    try:
        _added, first = pipe.execute()
    except BROKER_DOWN as exc:
        # Redis is away: the request is kept in PostgreSQL, and the periodic job queues
        # the refresh once Redis is back. A lost request would leave the customer's
        # figures wrong until their next event.
        task_keep("events.tasks.rollups_refresh", profile_ids, reason=type(exc).__name__)
        return
    if first:  # no drain queued that has not started yet: queue one
        task_queue("events.tasks.rollups_drain", on_commit=False)


def rollups_drain_run(*, recover: bool = False) -> int:
    """Refresh every customer waiting, DRAIN_CHUNK at a time; returns how many.

    The mark goes first: a batch that adds customers from here on queues the next drain,
    so none waits for a drain that has already looked. A chunk whose refresh fails is
    tried customer by customer; one that still fails is logged and kept apart, so one bad
    customer never stops the others. `recover` (the periodic job "rollups") first puts
    back the customers a dead worker had taken and those that failed (a drain running
    alongside may then refresh some twice: harmless)."""
    if not _coalesced():
        return 0  # nothing waits: every batch queued its own task
    client = _redis()
    waiting, queued, taken, failed = rollups_keys()
    if recover:
        pipe = client.pipeline(transaction=True)
        pipe.sunionstore(waiting, [waiting, taken, failed])
        pipe.delete(taken, failed)
        pipe.execute()
    client.delete(queued)
    take = client.register_script(_TAKE)
    done = 0
    while popped := take(keys=[waiting, taken], args=[DRAIN_CHUNK]):
        ids = sorted(int(i) for i in popped)
        done += _refresh(ids, failed)
        client.srem(taken, *ids)
    return done


def _refresh(ids: list[int], failed: str) -> int:
    try:
        return rollups.rollups_refresh_for(profile_ids=ids, now=timezone.now())
    except Exception:
        if len(ids) > 1:
            return sum(_refresh([pk], failed) for pk in ids)
        logger.exception("roll-up refresh failed for profile %s; kept for the periodic job", ids[0])
        _redis().sadd(failed, ids[0])
        return 0
