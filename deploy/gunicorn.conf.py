"""Gunicorn's settings for Klantbeeld's web server (the image's CMD and compose's `web`).

PORT and WEB_CONCURRENCY set the port and the number of workers; GUNICORN_CMD_ARGS (e.g.
"--bind 127.0.0.1:8001") overrides any setting here without editing this file.
"""

import os

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
# Access log to stdout (the container's log); it holds paths, never request bodies, and
# not gunicorn's default %(u)s: the basic-auth user of the event API is the write key.
accesslog = "-"
access_log_format = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
errorlog = "-"
