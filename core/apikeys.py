"""Creating and checking API keys."""

import datetime as dt
import secrets

from django.utils import timezone

from .models import ApiKey
from .tokens import token_hash

# Touch last_used_at at most this often per key: a busy write key must not turn every
# event into an UPDATE.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def api_key_create(*, name: str, kind: str) -> tuple[ApiKey, str]:
    """A new key of `kind` ("write" or "admin"); returns (row, the key itself, shown once)."""
    if kind not in ApiKey.Kind.values:
        raise ValueError(f"kind must be one of {', '.join(ApiKey.Kind.values)}")
    raw = f"kb_{kind}_{secrets.token_urlsafe(30)}"
    key = ApiKey.objects.create(name=name, kind=kind, prefix=raw[:12], key_hash=token_hash(raw))
    return key, raw


def api_key_check(raw: str | None, *, kind: str) -> ApiKey | None:
    """The live key of `kind` that `raw` is, or None (unknown, revoked or the wrong kind)."""
    if not raw:
        return None
    key = ApiKey.objects.filter(key_hash=token_hash(raw), kind=kind, revoked_at=None).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
