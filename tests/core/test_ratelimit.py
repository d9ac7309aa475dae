"""Rate limits: what they keep in the cache, and what counts as one client."""

import hashlib

import pytest
from django.core.cache import cache
from django.test import Client

from core.ratelimit import ip_bucket, rate_limit_hit


@pytest.fixture
def cache_keys(monkeypatch) -> list[str]:
    """Every key the rate limiter writes to the cache."""
    keys: list[str] = []
    add = cache.add

    def recording_add(key, *args, **kwargs):
        keys.append(key)
        return add(key, *args, **kwargs)

    monkeypatch.setattr(cache, "add", recording_add)
    return keys


def test_the_cache_never_holds_an_address_or_ip_nor_a_hash_anyone_can_recompute(
    cache_keys, settings
):
    key = "opt-in:anna@example.com"
    rate_limit_hit(key, limit=3, window=3600)
    rate_limit_hit("subscribe:ip:192.0.2.1", limit=3, window=3600)
    stored = " ".join(cache_keys)
    assert "anna@example.com" not in stored and "192.0.2.1" not in stored
    # An unkeyed hash of "opt-in:<address>" could be matched against a list of addresses.
    assert hashlib.sha256(key.encode()).hexdigest()[:32] not in stored
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    rate_limit_hit(key, limit=3, window=3600)
    assert cache_keys[-1] != cache_keys[0]  # keyed with the SECRET_KEY


def test_the_limit_still_counts_per_key():
    results = [rate_limit_hit("link:anna@example.com", limit=3, window=3600) for _ in range(4)]
    assert results == [False, False, False, True]
    assert rate_limit_hit("link:bram@example.com", limit=3, window=3600) is False


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
        ("not an ip", "unknown"),
    ],
)
def test_one_client_is_one_ipv4_address_or_one_ipv6_slash_64(ip, bucket):
    assert ip_bucket(ip) == bucket


@pytest.mark.django_db
def test_an_ipv6_client_cannot_dodge_the_form_limit_by_changing_address():
    from consent.models import Topic

    newsletter = Topic.objects.get(key="newsletter")

    def post(ip: str, n: int) -> int:
        data = {"email": f"bot{n}@example.com", "topics": [newsletter.pk], "website": ""}
        return Client(REMOTE_ADDR=ip).post("/subscribe/", data).status_code

    statuses = [post(f"2001:db8:1:2::{n + 1:x}", n) for n in range(21)]
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429
    assert post("2001:db8:1:3::1", 99) == 200  # the neighbour's network has its own limit
