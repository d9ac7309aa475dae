"""Production: everything from base, plus the settings a public deployment must have.

Fails at start-up when a required value is missing, rather than running half-configured.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, DATABASES, DEBUG, SECRET_KEY, SITE_URL, env

if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")
# Django's own bar for a key that signs every customer's link (check --deploy's W009).
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: at least 50 random characters, e.g. "
        'python3 -c "import secrets; print(secrets.token_urlsafe(50))".'
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("Production needs DATABASE_URL pointing at PostgreSQL.")
if not SITE_URL.startswith("https://") and not env.bool("ALLOW_HTTP_SITE_URL", default=False):
    raise ImproperlyConfigured("SITE_URL must be https:// in production.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the host(s) the site answers to.")
# Not SECRET_KEY's fallback from base: rotating the secret key must not make every erased
# or suppressed address unknown again.
if not env.str("SUPPRESSION_HASH_KEY", default=""):
    raise ImproperlyConfigured(
        "SUPPRESSION_HASH_KEY must be set in production: the key of the hash that keeps "
        "erased and suppressed addresses recognisable. Generate one once and never change "
        "it; an installation that ran without it used SECRET_KEY, so set it to that value."
    )

# The law asks for the sender's real name and postal address in every commercial mail:
# base's demo values must never reach a customer.
for _name in ("SHOP_NAME", "SHOP_ADDRESS"):
    if not env.str(_name, default=""):
        raise ImproperlyConfigured(
            f"{_name} must be set in production: the sender's name and postal address "
            "are shown in every mail and on the customer's pages."
        )

# Trust X-Forwarded-Proto only when a TLS proxy is the sole way in; otherwise any client
# could claim https.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Secure cookies wherever the site is https; a plain-http trial install must still log in.
SESSION_COOKIE_SECURE = SITE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading HSTS is the domain owner's decision: it binds every subdomain, in every
# browser, for months, and is slow to undo. Off unless SECURE_HSTS_PRELOAD=true, and
# Django's reminder (security.W021) silenced while it is off.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
