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
    """Transactional tests end with a flush of every table. On SQLite that is a DELETE per
    table, in no fixed order, and the consent ledger's trigger refuses it: so just before
    the flush the ledger is emptied here, under a flush permit.

    Asking for transactional_db here makes sure it is set up first, so this teardown runs
    before its teardown (the flush)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
    yield
    if transactional:
        from django.db import connection, transaction

        if connection.vendor == "sqlite":
            from consent.models import ConsentEvent, LedgerPermit

            with transaction.atomic():
                LedgerPermit.objects.create(profile_id=None)
                ConsentEvent.objects.all().delete()
                LedgerPermit.objects.all().delete()


class _Mailbox:
    """What a real SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list:
        import email
        from email import policy

        return [
            email.message_from_bytes(e.original_content, policy=policy.default)
            for e in self.envelopes
        ]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on a free local port; Django sends to it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield mailbox
    controller.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A tab of Debian's Chromium (Playwright, executable_path: no browser download),
    Dutch and phone-sized, against the live test server.

    Started per test, after the database is set up: Playwright's sync API runs an event
    loop in this thread while it lives, and Django hands out other connection objects
    beside a running loop (a session-wide browser broke serialized rollback)."""
    import os
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        reason = "needs Debian's chromium: apt-get install chromium (.ci/run installs it)"
        if os.environ.get("KLANTBEELD_REQUIRE_BROWSER"):
            pytest.fail(reason)  # CI: a browser test that does not run is a failure
        pytest.skip(reason)
    # The ORM refuses to run beside an event loop unless told this is deliberate.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="nl-NL", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        context.close()
        browser.close()
        # Connections opened beside the loop belong to its context: close them here, or
        # PostgreSQL refuses to drop the test database at the end.
        from django.db import connections

        connections.close_all()
