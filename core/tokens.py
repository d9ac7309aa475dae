"""Unguessable single-use tokens: the raw value goes into a link, only its hash is stored."""

import base64
import hashlib
import hmac
import secrets


def token_hash(raw: str) -> str:
    """SHA-256 of a token, the only form in which a token is kept in the database."""
    return hashlib.sha256(raw.encode()).hexdigest()


def token_new() -> tuple[str, str]:
    """A fresh (raw, hash) pair; 32 random bytes make the raw value unguessable."""
    raw = secrets.token_urlsafe(32)
    return raw, token_hash(raw)


def token_nonce() -> str:
    """A random value stored with a request; its link's token is derived from it."""
    return secrets.token_hex(16)


def token_from_nonce(nonce: str, purpose: str) -> str:
    """The link token of a stored nonce: the same every time it is asked for (a retried
    or redelivered mail task sends the very same link), yet unknowable without the
    SECRET_KEY, so neither the database nor the task queue holds a usable token."""
    from django.conf import settings

    mac = hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
