"""Unguessable single-use tokens: the raw value goes into a link, only its hash is stored."""

import hashlib
import secrets


def token_hash(raw: str) -> str:
    """SHA-256 of a token, the only form in which a token is kept in the database."""
    return hashlib.sha256(raw.encode()).hexdigest()


def token_new() -> tuple[str, str]:
    """A fresh (raw, hash) pair; 32 random bytes make the raw value unguessable."""
    raw = secrets.token_urlsafe(32)
    return raw, token_hash(raw)
