"""Shared fixtures. Tests marked `postgres` or `redis` need the real services and are
skipped, with a reason saying so, when DATABASE_URL / REDIS_URL do not point at them."""

import pytest
from django.conf import settings


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/klantbeeld"
    )
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    for item in items:
        if item.get_closest_marker("postgres") and not _on_postgres():
            item.add_marker(skip_pg)
        if item.get_closest_marker("redis") and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def marketer(db):
    """A staff user in the Marketer group, as a shop's marketer would be set up."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture(autouse=True)
def _ledger_flush_permit(request: pytest.FixtureRequest):
    """Transactional tests end with a flush of every table; on SQLite that is a DELETE,
    which the consent ledger's trigger refuses unless a flush permit is present.

    Asking for transactional_db here makes it finish setting up first, so this teardown
    (the permit) runs before its teardown (the flush)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
    yield
    if transactional:
        from django.db import connection

        if connection.vendor == "sqlite":
            from consent.models import LedgerPermit

            LedgerPermit.objects.create(profile_id=None)
