"""Gunicorn's settings for Klantbeeld's web server (the image's CMD and compose's `web`).

PORT and WEB_CONCURRENCY set the port and the number of workers; GUNICORN_CMD_ARGS (e.g.
"--bind 127.0.0.1:8001") overrides any setting here without editing this file.
"""

import os

from gunicorn.glogging import Logger

from core.logs import mask_links

bind = [f"0.0.0.0:{os.environ.get('PORT') or 8000}"]
# Sync workers, one request each; WEB_CONCURRENCY sets how many.
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)
# A request that takes longer than this is killed and answered 502 by a proxy; a big
# import or export runs as a Celery job, never inside a request.
timeout = 60
graceful_timeout = 30
# Fresh processes now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200

# The access log (stdout: the container's log) holds no personal data and no secret:
# not the client's address, not the Referer, not gunicorn's default %(u)s (for the event
# API the basic-auth user is the write key), and a customer's link without its token.
accesslog = "-"
access_log_format = '- - - %(t)s "%(r)s" %(s)s %(b)s "-" "%(a)s" %(M)sms'
errorlog = "-"


class MaskedLinksLogger(Logger):
    """Gunicorn's logger, with the token of a customer's link masked in the request line."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):
            atoms[name] = mask_links(atoms[name])
        return atoms


logger_class = MaskedLinksLogger
