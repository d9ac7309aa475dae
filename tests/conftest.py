"""Shared fixtures. Tests marked `postgres` or `redis` need the real services and are
skipped, with a reason saying so, when DATABASE_URL / REDIS_URL do not point at them."""

import contextlib

import pytest
from django.conf import settings

from tests.chromium import CHROMIUM, CHROMIUM_ARGS


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


# Tables whose rows the database refuses to change or delete (consent/migrations/0006).
GUARDED_TABLES = ("consent_consentevent", "consent_consenttext")


def _guard_triggers(connection) -> list[tuple[str, str]]:
    """(drop, create) statements of the triggers on the guarded tables, as they are now."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
                GUARDED_TABLES,
            )
            return [(f'DROP TRIGGER "{name}"', sql) for name, sql in cursor.fetchall()]
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger"
                " WHERE NOT tgisinternal AND tgrelid::regclass::text IN (%s, %s)",
                GUARDED_TABLES,
            )
            return [(f'DROP TRIGGER "{name}" ON "{table}"', sql) for name, table, sql in cursor]
    return []


@contextlib.contextmanager
def _guards_lifted(aliases: list[str]):
    """The guard triggers dropped, and made again from their own definitions after."""
    from django.db import connections

    lifted = {}
    for alias in aliases:
        lifted[alias] = _guard_triggers(connections[alias])
        with connections[alias].cursor() as cursor:
            for drop, _create in lifted[alias]:
                cursor.execute(drop)
    try:
        yield
    finally:
        for alias, triggers in lifted.items():
            with connections[alias].cursor() as cursor:
                for _drop, create in triggers:
                    cursor.execute(create)


@pytest.fixture(autouse=True, scope="session")
def _guards_lifted_for_flushes():
    """Transactional tests end with a flush of every table (on SQLite a DELETE per table)
    and, with serialized_rollback, start by writing the migrations' rows back (an UPDATE
    of each one still there): both refused by the guard triggers. Around those two steps,
    and only there, the triggers are dropped and made again: no permit, no loophole.

    Django has no hook around them, so TransactionTestCase's two methods are wrapped."""
    from django.test import TransactionTestCase

    setup = TransactionTestCase._fixture_setup.__func__  # a classmethod since Django 5.2
    teardown = TransactionTestCase._fixture_teardown

    def setup_unguarded(cls: type[TransactionTestCase]) -> None:
        with _guards_lifted(cls._databases_names(include_mirrors=False)):
            setup(cls)

    def teardown_unguarded(self: TransactionTestCase) -> None:
        with _guards_lifted(self._databases_names(include_mirrors=False)):
            teardown(self)

    patch = pytest.MonkeyPatch()
    patch.setattr(TransactionTestCase, "_fixture_setup", classmethod(setup_unguarded))
    patch.setattr(TransactionTestCase, "_fixture_teardown", teardown_unguarded)
    yield
    patch.undo()


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
    settings.EMAIL_BACKEND = "core.mail.SmtpEmailBackend"  # as production sends
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield mailbox
    controller.stop()


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
