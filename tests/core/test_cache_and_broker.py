"""The cache and the Celery broker never share a Redis database: clearing the cache (or
Redis evicting cache keys) must not delete queued mail tasks."""

import pytest

from tests.utils import run_django

BODY = """
import redis
from django.conf import settings
from django.core.cache import cache
from config.celery import app

app.send_task("consent.tasks.send_opt_in_mail", args=[1], queue="klantbeeld-test-cache-broker")
cache.set("dashboard", "figures")
cache.clear()
broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
print(broker.llen("klantbeeld-test-cache-broker"), cache.get("dashboard"))
broker.delete("klantbeeld-test-cache-broker")
"""


@pytest.mark.redis
def test_clearing_the_cache_keeps_the_queued_tasks(settings):
    # The settings as production reads them: REDIS_URL alone, no CACHE_REDIS_URL.
    result = run_django(
        BODY,
        DEBUG="false",
        SECRET_KEY="test-secret-key-not-for-production",
        REDIS_URL="redis://127.0.0.1:6379/11",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "None"]  # the task is still queued; the cache is empty
