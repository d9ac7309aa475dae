"""Project-wide views that belong to no app: the health check and the site's icon."""

import logging

from celery import current_app
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The health of what the product runs on, for the container check, load balancers
    and monitoring; public, and says nothing more than this.

    - "ok" (200): the database, the cache and the broker answer;
    - "degraded: …" (200): the database answers, the cache or the broker does not. Pages
      and the APIs still work (rate limits are not checked, tasks wait in the database),
      so a load balancer keeps the server; monitoring reads the line;
    - "database unavailable" (503): nothing can be served.
    """
    if not _database_answers():
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    down = [
        name
        for name, answers in (("cache", _cache_answers), ("broker", _broker_answers))
        if not answers()
    ]
    if down:
        text = "degraded: " + ", ".join(f"{name} unavailable" for name in down)
        return HttpResponse(text, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


def _database_answers() -> bool:
    try:
        connection.ensure_connection()
        # A kept-alive connection may have died since; a round trip proves it answers.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
        return False
    return True


def _cache_answers() -> bool:
    try:
        cache.set("healthz", "1", timeout=10)
        return cache.get("healthz") == "1"
    except Exception as exc:  # noqa: BLE001 - any failure of the cache means "unavailable"
        logger.warning("healthz: cache unreachable (%s)", type(exc).__name__)
        return False


def _broker_answers() -> bool:
    try:
        with current_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001 - any failure of the broker means "unavailable"
        logger.warning("healthz: broker unreachable (%s)", type(exc).__name__)
        return False
    return True


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site, the admin's pages included. A 302: a
    browser keeps a 301, and the hashed file it points at changes with the icon."""
    return HttpResponseRedirect(staticfiles_storage.url("klantbeeld/favicon.svg"))
