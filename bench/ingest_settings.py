"""Settings of the ingest benchmark's web server (and of the benchmark process itself).

The project's base settings, unchanged, except that the Celery queue and the cache keys
are this run's own: the roll-up tasks the API queues must never reach a developer's
worker listening on the same Redis (nor a test's), and the benchmark removes exactly its
own keys afterwards.
"""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import CACHES

BENCH_RUN = os.environ["KLANTBEELD_BENCH_RUN"]
CELERY_TASK_DEFAULT_QUEUE = BENCH_RUN  # the exchange follows the queue's name
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False  # no pidbox keys left behind on Redis
CACHES["default"]["KEY_PREFIX"] = BENCH_RUN
