"""Project-wide views that belong to no app: the health check and the site's icon."""

import logging

from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 "ok" when the web process can reach its database, 503 when it cannot.

    For the container health check and load balancers; public, and says nothing more.
    """
    try:
        connection.ensure_connection()
        # A kept-alive connection may have died since; a round trip proves it answers.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site, the admin's pages included. A 302: a
    browser keeps a 301, and the hashed file it points at changes with the icon."""
    return HttpResponseRedirect(staticfiles_storage.url("klantbeeld/favicon.svg"))
