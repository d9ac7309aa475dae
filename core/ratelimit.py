"""Fixed-window rate limits on the shared cache (Redis in production).

Written by hand rather than with django-ratelimit: the same limits are applied inside
services called from forms, the API and the preference pages, keyed by a normalised
address as well as by IP, not only around a view. Keys are hashed, so no address ends
up in the cache in clear.
"""

import hashlib
import time

from django.core.cache import cache


def rate_limit_hit(key: str, *, limit: int, window: int) -> bool:
    """Count one attempt for `key`; True when this attempt is over `limit` per `window` s."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    bucket = f"rl:{digest}:{int(time.time() // window)}"
    if cache.add(bucket, 1, timeout=window + 1):
        return limit < 1
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 1)
        count = 1
    return count > limit


class RateLimited(Exception):
    """Too many attempts; the caller says "try again later" (HTTP 429 in the API)."""
