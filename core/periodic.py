"""The periodic jobs, one registry for Celery beat and `manage.py tick`.

Each app registers its jobs from AppConfig.ready(): a name and a function of `now` that
does the job's whole work for that moment and returns something to report. Beat calls
them through `core.tasks.run_periodic`; `tick --now` calls them all once, in order of
registration, with its own clock — so a test or an operator can replay any moment.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

jobs: dict[str, Callable[[dt.datetime], Any]] = {}


def register_periodic(name: str, func: Callable[[dt.datetime], Any]) -> None:
    jobs[name] = func


def periodic_run(name: str, *, now: dt.datetime) -> Any:
    return jobs[name](now)


def periodic_run_all(*, now: dt.datetime) -> dict[str, Any]:
    return {name: func(now) for name, func in jobs.items()}
