"""Test settings: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, otherwise
SQLite and an in-memory broker (tests that need the real services skip themselves)."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("ENV_FILE", "")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="klantbeeld-test-"))
os.environ.setdefault("SITE_URL", "https://shop.example.nl")
# The test client is "testserver"; schemathesis calls the WSGI app as "localhost".
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

from .base import *  # noqa: E402,F403
from .base import CELERY_BROKER_URL, DATABASES, REDIS_URL, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # An in-memory test database; nothing is written under var/.
    DATABASES["default"]["NAME"] = ":memory:"
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}

if not REDIS_URL and CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; the pipeline tests start a real worker instead.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(VAR_DIR) / "media"
if not REDIS_URL:  # with Redis, base puts the cache on the database after the broker's
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
