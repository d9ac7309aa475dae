"""What every benchmark does to its database and its Django: a database of its own
(dropped and recreated), the run lock, Django set up against it, the tables' indexes
dropped for a bulk load, statements counted, and the local services it talks to.

Nothing here imports Django at module level: a benchmark chooses its settings first.
"""

import contextlib
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.report import ROOT, Steps

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/klantbeeld_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

# --- The benchmark's own database -------------------------------------------------------


def database_url(suffix: str = "") -> str:
    """URL of the benchmark's own database: the one DATABASE_URL names (by default
    `klantbeeld_bench`) plus `suffix` (one per benchmark, e.g. "_selections").

    The database is dropped and recreated, so a DATABASE_URL that names a database
    without "bench" in it (a developer's own, say) is used for its server only; the note
    saying so is printed.
    """
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"The benchmarks need PostgreSQL; DATABASE_URL is {parts.scheme}://…")
    name = parts.path.lstrip("/")
    if "bench" not in name:
        bench_name = f"{name or 'klantbeeld'}_bench"
        print(
            f"DATABASE_URL names {name!r}; the benchmark uses its own database {bench_name!r} there."
        )
        name = bench_name
    return urlunsplit(parts._replace(path=f"/{name}{suffix}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def database_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = database_name(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def database_fresh(url: str, *, keep: bool, reuse: bool = False) -> Iterator[None]:
    """The database created afresh (unless `reuse`: the one a --keep-db run left), and
    dropped when the block ends, also on a failure or a kill (unless `keep`); Django's
    connections to it are closed first."""
    if not reuse:
        print(f"Creating a fresh database {database_name(url)!r} and migrating …", file=sys.stderr)
        database_recreate(url)
    try:
        yield
    finally:
        from django.conf import settings
        from django.db import connections

        if settings.configured:  # Django was set up: close its connections to the database
            connections.close_all()
        if not keep:
            database_recreate(url, drop_only=True)


def run_lock(url: str) -> Any:
    """An advisory lock on the server, named after the benchmark's database and held by
    the returned connection: a second run at the same time would drop the first one's
    database under it."""
    import psycopg

    parts = urlsplit(url)
    name = database_name(url)
    conn = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name]).fetchone()
    if not row or not row[0]:
        conn.close()
        raise SystemExit(f"Another run is using the database {name!r}; try again when it ends.")
    return conn


# --- Django ------------------------------------------------------------------------------


def django_env(url: str, settings: str = "config.settings.base") -> dict[str, str]:
    """The environment a benchmark's Django runs with (its own process or a server's)."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-not-for-production",  # noqa: S105
        "ENV_FILE": "",  # a developer's var/dev.env must not change the figures
    }


def django_start() -> None:
    """django.setup() of the project in this tree, with the environment already set."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def django_setup(url: str) -> None:
    """Django with the base settings against the benchmark's database."""
    os.environ.update(django_env(url))
    django_start()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def scalar(sql: str, params: Any = None) -> Any:
    """The first column of the first row of a query through Django's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def server_version() -> str:
    """PostgreSQL's version number, e.g. "16.4"."""
    return str(scalar("SHOW server_version")).split()[0]


def explain(sql: str, params: Any, *, analyze: bool = True) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement (plain EXPLAIN unless `analyze`), in a
    transaction rolled back afterwards, so an INSERT's rows are not kept."""
    from django.db import connection, transaction

    options = "ANALYZE, BUFFERS" if analyze else "COSTS"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@dataclass
class Statements:
    """Counts what Django sends to the database (an execute_wrapper; cheap, unlike
    CaptureQueriesContext, which keeps the text of every 2,000-row INSERT)."""

    count: int = 0
    seconds: float = 0.0
    by_kind: Counter = field(default_factory=Counter)

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1
            self.by_kind[sql.lstrip().split(None, 1)[0].upper()] += 1


@dataclass
class Measured:
    result: Any
    seconds: float  # wall clock
    cpu_seconds: float  # of this process
    statements: Statements
    profiler: Any  # a cProfile.Profile, or None


def measure(run: Callable[[], Any], *, profile: bool = False) -> Measured:
    """Call `run` once, timed, counting the SQL statements Django sends; under cProfile
    when `profile`."""
    from django.db import connection

    statements = Statements()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with connection.execute_wrapper(statements):
        start = time.perf_counter()
        cpu_start = time.process_time()
        if profiler:
            profiler.enable()
        result = run()
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu_start
        seconds = time.perf_counter() - start
    return Measured(result, seconds, cpu, statements, profiler)


# --- Bulk loads (psycopg cursors) ------------------------------------------------------


def load_session(cursor: Any) -> None:
    """Session settings for a bulk load only; the measurements run with the server's own."""
    cursor.execute("SET synchronous_commit = off")
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute("SET work_mem = '256MB'")


@dataclass
class Saved:
    """A table's indexes and constraints, dropped for the load and rebuilt after it."""

    table: str
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX …) not backing a constraint
    constraints: list[tuple[str, str]]  # (name, definition) of unique and foreign keys


def indexes_drop(cursor: Any, tables: tuple[str, ...]) -> list[Saved]:
    """Drop the tables' unique and foreign keys and their other indexes (the primary
    keys stay); what `indexes_restore` needs to rebuild them."""
    saved = []
    for table in tables:
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY conname""",
            [table],
        )
        constraints = list(cursor.fetchall())
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename = %s AND NOT EXISTS (
                   SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass)
               ORDER BY i.indexname""",
            [table],
        )
        indexes = list(cursor.fetchall())
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        saved.append(Saved(table, indexes, constraints))
    return saved


def indexes_restore(cursor: Any, saved: list[Saved]) -> None:
    """Rebuild what `indexes_drop` dropped, the last table first: with the tables in the
    order they are loaded (events, then profiles, …), the keys of a table are back before
    the foreign keys to it."""
    for kept in reversed(saved):
        for _name, definition in kept.indexes:
            cursor.execute(definition)
        for name, definition in kept.constraints:
            cursor.execute(f'ALTER TABLE {kept.table} ADD CONSTRAINT "{name}" {definition}')


@contextlib.contextmanager
def bulk_load(cursor: Any, tables: tuple[str, ...]) -> Iterator[Steps]:
    """A load into `tables` without their indexes and constraints: dropped before the
    block, rebuilt after it, then VACUUM ANALYZE; each a step of the Steps the block
    times its own steps with."""
    saved = indexes_drop(cursor, tables)
    steps = Steps()
    yield steps
    indexes_restore(cursor, saved)
    steps.done("indexes and constraints rebuilt")
    vacuum_analyze(cursor, tables)
    steps.done("VACUUM ANALYZE")


def sequence_set(cursor: Any, table: str, value: int) -> None:
    """The table's id sequence after rows inserted with ids of their own (1 … value)."""
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [value])


def vacuum_analyze(cursor: Any, tables: tuple[str, ...] | list[str]) -> None:
    """As autovacuum would leave the tables after a load."""
    for table in tables:
        cursor.execute(f"VACUUM (ANALYZE) {table}")


# --- Local services ---------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server the benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_unreachable(redis_url: str) -> str:
    """Why Redis at `redis_url` cannot be used ("" when it answers)."""
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no Redis here
        return str(exc)
    return ""


def redis_delete(redis_url: str, match: str) -> None:
    """Delete the keys matching `match` (a pattern naming this run's own keys only)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=match, count=1000))
    if keys:
        client.delete(*keys)
