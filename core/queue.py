"""Queueing work for a Celery worker, by the task's name, without losing it when the
broker is down.

A task is the edge: it takes ids, re-reads the rows and calls one service, so an app's
tasks module imports the services it runs. A service that starts work on a worker (a
mail, a webhook delivery, an import, a roll-up) therefore never imports that module back:
it queues the task by its registered name. Every app's AppConfig.ready() imports its own
tasks module, so every process (web, worker, beat, a management command) knows them all;
a test checks that every name queued here is a registered task.

When the broker cannot be reached, the task is kept in the database (KeptTask) instead of
failing the page or the API call that committed the work, and the periodic job
"requeue-tasks" queues it again once the broker answers. Arguments are ids, never
personal data.
"""

import datetime as dt
import logging
from functools import partial
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import current_app
from celery.contrib.django.task import DjangoTask
from django.db import transaction

from .models import KeptTask

logger = logging.getLogger(__name__)

# What a broker that is down (or restarting) raises when a task is published.
BROKER_DOWN = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, OSError)
REQUEUE_BATCH = 500


def task_queue(name: str, *args: Any, on_commit: bool = True, **options: Any) -> None:
    """Queue the task `name` with these arguments (ids). By default once the current
    transaction commits, so the worker never runs before the data it needs exists;
    `on_commit=False` queues at once (a page that only reads, a callback that runs after
    the commit). `options` go to Celery's apply_async (e.g. `argsrepr`)."""
    task = current_app.tasks[name]
    if not isinstance(task, DjangoTask):
        raise TypeError(f"{name} is not a DjangoTask: it has no on-commit queueing")
    if on_commit:
        transaction.on_commit(partial(_publish, task, args, options))
    else:
        _publish(task, args, options)


def _publish(task: DjangoTask, args: tuple[Any, ...], options: dict[str, Any]) -> None:
    try:
        task.apply_async(args, **options) if options else task.delay(*args)
    except BROKER_DOWN as exc:
        task_keep(task.name, *args, reason=type(exc).__name__)


def task_keep(name: str, *args: Any, reason: str = "") -> None:
    """Keep a task the broker cannot take now; "requeue-tasks" queues it again."""
    KeptTask.objects.create(name=name, args=list(args))
    logger.warning("broker unreachable (%s): %s kept, to be queued again", reason, name)


def tasks_requeue(*, now: dt.datetime) -> dict[str, int]:
    """Queue the kept tasks again, oldest first (the periodic job "requeue-tasks"); stops
    at the first one the broker still refuses."""
    queued = 0
    for kept in KeptTask.objects.all()[:REQUEUE_BATCH]:
        try:
            current_app.tasks[kept.name].delay(*kept.args)
        except BROKER_DOWN:
            break
        kept.delete()
        queued += 1
    return {"queued": queued, "waiting": KeptTask.objects.count()}
