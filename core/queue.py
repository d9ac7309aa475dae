"""Queueing work for a Celery worker, by the task's name.

A task is the edge: it takes ids, re-reads the rows and calls one service, so an app's
tasks module imports the services it runs. A service that starts work on a worker (a
mail, a webhook delivery, an import, a roll-up) therefore never imports that module back:
it queues the task by its registered name. Every app's AppConfig.ready() imports its own
tasks module, so every process (web, worker, beat, a management command) knows them all;
a test checks that every name queued here is a registered task.
"""

from typing import Any

from celery import current_app
from celery.contrib.django.task import DjangoTask


def task_queue(name: str, *args: Any, on_commit: bool = True, **options: Any) -> None:
    """Queue the task `name` with these arguments (ids, never personal data). By default
    once the current transaction commits, so the worker never runs before the data it
    needs exists; `on_commit=False` queues at once (a page that only reads). `options` go
    to Celery's apply_async (e.g. `argsrepr`)."""
    task = current_app.tasks[name]
    if not isinstance(task, DjangoTask):
        raise TypeError(f"{name} is not a DjangoTask: it has no on-commit queueing")
    if on_commit and not options:
        task.delay_on_commit(*args)
    elif on_commit:
        task.apply_async_on_commit(args, **options)
    elif options:
        task.apply_async(args, **options)
    else:
        task.delay(*args)
