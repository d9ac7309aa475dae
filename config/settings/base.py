"""Klantbeeld settings: every value comes from the environment (django-environ).

`var/dev.env` is read when present: `make run` writes it for local development (DEBUG on,
a random secret key). It is not `.env`, which belongs to docker compose (.env.example), so
neither clobbers the other. Production sets real environment variables and fails loudly
on a missing secret.
"""

import datetime as dt
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class _Env(environ.Env):
    """django-environ, where an empty value counts as unset: docker compose passes an
    optional setting that its .env leaves out as an empty string (`${NAME:-}`), and the
    default below must hold then, not an empty value."""

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):  # type: ignore[no-untyped-def]
        if default is not self.NOTSET and self.ENVIRON.get(var) == "":
            return default
        return super().get_value(var, cast=cast, default=default, parse_default=parse_default)


env = _Env()
# ENV_FILE="" reads no file (the tests and the image do this, so a developer's file
# cannot leak in); ENV_FILE=path reads another.
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / "var" / "dev.env"))
if _env_file:
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set unless DEBUG is on.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

# Where the project keeps its local state (SQLite database, outbox, broker folders).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The origins a form may be posted from; behind a proxy that rewrites the host, name it.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_countries",
    "anymail",
    "axes",
    "csp",
    "core",
    "profiles",
    "consent",
    "events",
    "campaigns",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database that is away answers the APIs' calls with their JSON 503.
    "core.middleware.ApiUnavailable",
    # A Content-Security-Policy header on every page (django-csp).
    "csp.middleware.CSPMiddleware",
    # Admin login throttling (django-axes): last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
]

# --- Content-Security-Policy ---------------------------------------------------------------
# Only our own scripts run, nothing frames a page (with X-Frame-Options: DENY for older
# browsers), forms post only here. The admin keeps inline style attributes (and a mail
# preview, whose CSS is inlined into the mail); the customer's pages are stricter still
# (core.http.customer_page: no inline style either).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- The admin's login: throttled against guessing (django-axes) ------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords from one address lock that address out of the login for half an
# hour (a right password meanwhile does not get in); a success resets the count.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
# The visitor's address as the rest of Klantbeeld reads it (TRUSTED_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
# Failures are counted in the database; successful logins are not recorded at all.
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Default: an embedded SQLite file in WAL mode, so the web server and the Celery worker
# can share it. IMMEDIATE transactions avoid "database is locked" on lock upgrades.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'klantbeeld.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if not env.bool("POSTGRES_JIT", default=False):
        # PostgreSQL's JIT compiles any query it guesses to be expensive: a selection
        # count over 10M events spent 1.4 of its 2.5 s compiling (bench/selections.py).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time ----------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="nl")
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# Without collectstatic (make run, tests) whitenoise serves straight from the apps.
WHITENOISE_USE_FINDERS = DEBUG or not STATIC_ROOT.is_dir()
WHITENOISE_AUTOREFRESH = DEBUG

# --- Mail -----------------------------------------------------------------------------
# ANYMAIL_ESP (e.g. "postmark", "sendgrid", "mailgun") selects an ESP through anymail;
# otherwise EMAIL_URL (e.g. smtp://127.0.0.1:1025); otherwise the local outbox, a folder
# of .eml files under var/outbox that a marketer can open with any mail program.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Klantbeeld <noreply@klantbeeld.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="")
ANYMAIL = {
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="") or None,
}
# The ESP's own settings arrive as ANYMAIL_<NAME> variables; anymail reads them from the
# ANYMAIL dict, so ANYMAIL_POSTMARK_SERVER_TOKEN becomes ANYMAIL["POSTMARK_SERVER_TOKEN"].
# Empty values are skipped: docker-compose.yml passes several ESPs' variables, mostly unset.
for _name, _value in os.environ.items():
    if (
        _name.startswith("ANYMAIL_")
        and _name not in ("ANYMAIL_ESP", "ANYMAIL_WEBHOOK_SECRET")
        and _value
    ):
        ANYMAIL[_name.removeprefix("ANYMAIL_")] = _value
OUTBOX_DIR = VAR_DIR / "outbox"
if ANYMAIL_ESP:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
elif env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    vars().update(_email)
    if _email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend":
        # Django's, telling "the server may have it" from "it was not taken" (core/mail.py).
        EMAIL_BACKEND = "core.mail.SmtpEmailBackend"
else:
    EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
# Seconds a mail server may take to answer; then the message is retried when it cannot
# have arrived, and "unknown" when it may have (never sent twice).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- Celery ---------------------------------------------------------------------------
# Default broker: kombu's filesystem transport under var/broker, so `make run` needs no
# Redis. REDIS_URL or CELERY_BROKER_URL selects a real broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):  # kombu does not create them
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Every entry runs one job of core.periodic (which `manage.py tick` runs all at once).
# The admin's front-page dashboard: its figures are computed this often by beat, and a
# page that finds them older queues a refresh (surveys/dashboard.py).
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=600)

PERIODIC_JOBS = {
    # Tasks the broker could not take when they were queued (core/queue.py), again.
    "requeue-tasks": 60,
    # The campaign scheduler: triggers → sends → mail (campaigns/scheduler.py).
    "campaigns": 60,
    # Outgoing webhooks: retries of what the receiver did not take yet.
    "webhooks": 60,
    # Write "expired" into the consent ledger for double opt-ins never confirmed.
    "expire-opt-ins": 3600,
    # Uploaded import files, import reports and the webhook log do not outlive their use.
    "tidy-import-jobs": 24 * 3600,
    "tidy-webhook-log": 24 * 3600,
    # Lapsed customers, the at-risk flag and RFM scores.
    "lifecycle-nightly": 24 * 3600,
    # Roll-ups left waiting (a lost drain task, a dead worker) and failed ones, again.
    "rollups": 300,
    # The dashboard's figures, ready before a marketer opens the admin.
    "dashboard": DASHBOARD_CACHE_SECONDS,
}
CELERY_BEAT_SCHEDULE: dict = {
    name: {"task": "core.tasks.run_periodic", "schedule": seconds, "args": [name]}
    for name, seconds in PERIODIC_JOBS.items()
}

# --- Outgoing webhooks (profiles/webhooks.py) -----------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_GIVE_UP_HOURS = env.int("WEBHOOK_GIVE_UP_HOURS", default=72)
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", default=30)
# Outgoing webhooks reach public addresses only; a private network the shop's receiver
# lives in can be allowed on purpose, e.g. 10.20.0.0/16 (core/net.py).
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {_exc}") from None


# --- Cache (rate limits, dashboard figures) --------------------------------------------
def _next_database(url: str) -> str:
    """The same Redis server's next database: the cache never shares the broker's, where
    clearing it (or evicting keys) would delete queued tasks."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + 1
    if database > 15:
        raise ImproperlyConfigured(
            "REDIS_URL uses Redis database 15: set CACHE_REDIS_URL to another database."
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


CACHE_REDIS_URL = env.str("CACHE_REDIS_URL", default="") or (
    _next_database(REDIS_URL) if REDIS_URL else ""
)
if CACHE_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_REDIS_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "klantbeeld_cache",
        }
    }

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Logging: no personal data; log ids, never addresses or a customer's link -------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "client_mistake": {"()": "core.logs.ClientMistake"},
        "mask_links": {"()": "core.logs.MaskLinks"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_links"],
        },
        "refused": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_mistake", "mask_links"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes names the address and username in its messages: not in our logs.
        # A lockout is logged without them (core.apps).
        "axes": {"level": "ERROR"},
        # A forged webhook, a foreign Host header: a refused request, not our error.
        "django.security": {"handlers": ["refused"], "propagate": False},
    },
}

# --- Klantbeeld -----------------------------------------------------------------------
# Who sends: shown in every mail footer and on the customer pages (the law asks for the
# sender's identity and address in commercial mail).
SHOP_NAME = env.str("SHOP_NAME", default="Klantbeeld demo shop")
SHOP_ADDRESS = env.str("SHOP_ADDRESS", default="Voorbeeldstraat 1, 1234 AB Amsterdam")
# The shop's own site, for the links in campaign mail ("to the shop", "to my basket").
SHOP_URL = env.str("SHOP_URL", default="https://shop.example.nl")
SHOP_BASKET_URL = env.str("SHOP_BASKET_URL", default=SHOP_URL.rstrip("/") + "/winkelmand")
# Proxies in front of the web server that append to X-Forwarded-For (0: none; trust only
# REMOTE_ADDR). Used for the per-IP rate limits and the IP recorded with a consent.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Key of the HMAC that keeps erased and suppressed addresses recognisable without storing
# them. Changing it makes every erased address unknown again: set it once, keep it.
SUPPRESSION_HASH_KEY = env.str("SUPPRESSION_HASH_KEY", default="") or SECRET_KEY
# Double opt-in: how long a confirmation link works.
OPT_IN_TTL_DAYS = env.int("OPT_IN_TTL_DAYS", default=7)
# How long a preference-page link from a mail works (an unsubscribe link always works).
PREFERENCES_LINK_TTL_DAYS = env.int("PREFERENCES_LINK_TTL_DAYS", default=180)
# Rate limits: (attempts, seconds).
RATE_LIMIT_OPT_IN_PER_ADDRESS = (3, 3600)
RATE_LIMIT_FORM_PER_IP = (20, 3600)
RATE_LIMIT_LINK_REQUEST_PER_ADDRESS = (3, 3600)
# Time a customer has to confirm a new email address.
EMAIL_CHANGE_TOKEN_TTL_HOURS = env.int("EMAIL_CHANGE_TOKEN_TTL_HOURS", default=48)
# Rows per chunk for profile imports: one bulk write per chunk.
PROFILE_IMPORT_CHUNK_SIZE = env.int("PROFILE_IMPORT_CHUNK_SIZE", default=2000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
