"""Fixed-window rate limits on the shared cache (Redis in production).

Written by hand rather than with django-ratelimit: the same limits are applied inside
services called from forms, the API and the preference pages, keyed by a normalised
address as well as by IP, not only around a view. Keys are keyed hashes (HMAC with the
SECRET_KEY), so no address or IP ends up in the cache in clear, nor as a plain hash
anyone could recompute from a list of addresses or the 2^32 IPv4 addresses.
"""

import ipaddress
import logging
import time

import redis.exceptions
from django.core.cache import cache
from django.utils.crypto import salted_hmac

from .errors import DomainError

logger = logging.getLogger(__name__)

# What Django's Redis cache raises when Redis is down or restarting.
CACHE_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

# An IPv6 subscriber gets a whole /64 and picks addresses in it at will.
IPV6_PREFIX = 64


def ip_bucket(ip: str | None) -> str:
    """The part of an IP address that names one client: an IPv4 address, or the /64
    network of an IPv6 address (an IPv4-mapped one counts as IPv4)."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def rate_limit_hit(key: str, *, limit: int, window: int) -> bool:
    """Count one attempt for `key`; True when this attempt is over `limit` per `window` s.

    When the cache cannot be reached the attempt is let through (and the log says so): a
    sign-up page must not fail because Redis is away."""
    digest = salted_hmac("klantbeeld.ratelimit", key, algorithm="sha256").hexdigest()[:32]
    bucket = f"rl:{digest}:{int(time.time() // window)}"
    try:
        return _count(bucket, limit=limit, window=window)
    except CACHE_DOWN as exc:
        logger.warning(
            "rate limit not checked: the cache cannot be reached (%s)", type(exc).__name__
        )
        return False


def _count(bucket: str, *, limit: int, window: int) -> bool:
    if cache.add(bucket, 1, timeout=window + 1):
        return limit < 1
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 1)
        count = 1
    return count > limit


class RateLimited(DomainError):
    """Too many attempts; the caller says "try again later" (HTTP 429)."""

    status = 429
    default_code = "rate_limited"

    def __init__(self, what: str = "", *, retry_after: int = 3600) -> None:
        super().__init__(message="Too many requests for this address; try again later.")
        self.what = what  # which limit (for the log, never an address)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
