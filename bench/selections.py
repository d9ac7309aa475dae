"""Benchmark: the live count of a selection on 1,000,000 profiles and 10,000,000 events.

Generates, in a freshly created database of its own, a shop's customer base with SQL
(`generate_series`, the tables' indexes and constraints dropped during the load and
rebuilt afterwards, then `VACUUM ANALYZE`, as autovacuum would leave the tables):

  - profiles with names, addresses, languages, custom attributes and value figures
    (orders, spend, first/last order, last seen) computed from their events;
  - events: Product Viewed / Added / Removed, Cart Viewed, Checkout Started, Order
    Completed (with totals and product lines), pages, identifies, over two years with
    more in recent months, stored in the order they happened (as the API appends them),
    unevenly spread over the customers, 10% from visitors not known yet (no profile);
    product events carry a category;
  - permissions for the newsletter and service topics, suppressions, paused contact
    preferences.

Then times `selection_profiles(definition, now=…).count()` (what the admin's live count
runs) for six representative selections, each once to warm up and 3 times measured; the
median is reported with its ratio to the baseline, a plain `SELECT count(*)` of the
profiles table in the same run. A selection slower than the target (2 s) is shown with
EXPLAIN (ANALYZE, BUFFERS). Every count is checked against an independently written SQL
query; the exit status is non-zero only when one disagrees, never because of speed.

    python -m bench selections [--profiles N] [--events N] [--keep-db] [--timeout S]
"""

import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.data import (
    EVENTS_SQL,
    LIFECYCLE_STAGE_SQL,
    ORDER_FIGURES_JOIN,
    PROFILES_INSERT,
    TIERS,
    context_values,
    pick,
    sql_params,
    user_id_sql,
)
from bench.db import (
    bulk_load,
    database_fresh,
    database_url,
    django_setup,
    explain,
    load_session,
    migrate,
    run_lock,
    scalar,
    sequence_set,
    server_version,
)
from bench.report import (
    keep_db_options,
    parser_make,
    results_finish,
    run_as_script,
    run_meta,
    size_options,
)

TARGET_SECONDS = 2.0
REPEAT = 3
# The clock of the run: every "last N days" counts back from here.
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
LOADED_TABLES = (
    "events_event",
    "profiles_profile",
    "consent_consentstate",
    "consent_suppression",
    "consent_contactpreference",
)


# --- Selections ------------------------------------------------------------------------------


def cond(kind: str, negate: bool = False, **params: Any) -> dict[str, Any]:
    return {"kind": kind, "negate": negate, "params": params}


def group(op: str, *children: dict[str, Any], negate: bool = False) -> dict[str, Any]:
    return {"op": op, "negate": negate, "children": list(children)}


@dataclass
class Case:
    key: str
    label: str
    definition: dict[str, Any]
    # The same selection written by hand (params: now, today), to check the count.
    check_sql: str


NOT_ERASED = "SELECT count(*) FROM profiles_profile p WHERE p.erased_at IS NULL AND "

CASES = [
    Case(
        "viewed_category_30d",
        "Product Viewed in category Schoenen in the last 30 days",
        cond("event", event="Product Viewed", days=30, property="category", value="Schoenen"),
        NOT_ERASED
        + """p.id IN (SELECT profile_id FROM events_event WHERE name = 'Product Viewed'
            AND timestamp >= %(now)s - interval '30 days'
            AND properties ->> 'category' = 'Schoenen')""",
    ),
    Case(
        "win_back_180d",
        "ordered before, but no Order Completed in the last 180 days",
        group(
            "and",
            cond("event", event="Order Completed"),
            cond("event", negate=True, event="Order Completed", days=180),
        ),
        NOT_ERASED
        + """p.id IN (SELECT profile_id FROM events_event WHERE name = 'Order Completed')
            AND NOT EXISTS (SELECT 1 FROM events_event e WHERE e.profile_id = p.id
                AND e.name = 'Order Completed' AND e.timestamp >= %(now)s - interval '180 days')""",
    ),
    Case(
        "three_orders",
        "3 or more orders (Order Completed at least 3 times)",
        cond("event", event="Order Completed", times=3),
        NOT_ERASED
        + """p.id IN (SELECT profile_id FROM events_event WHERE name = 'Order Completed'
            GROUP BY profile_id HAVING count(*) >= 3)""",
    ),
    Case(
        "utrecht_added_14d",
        "city is Utrecht AND Product Added in the last 14 days",
        group(
            "and",
            cond("field", field="city", operator="eq", value="Utrecht"),
            cond("event", event="Product Added", days=14),
        ),
        NOT_ERASED
        + """lower(p.city) = 'utrecht' AND p.id IN (SELECT profile_id FROM events_event
            WHERE name = 'Product Added' AND timestamp >= %(now)s - interval '14 days')""",
    ),
    Case(
        "spenders_or_abandoned_basket",
        "spent 500 or more OR (Product Added in 7 days AND NOT Order Completed in 7 days)",
        group(
            "or",
            cond("field", field="total_spent", operator="gte", value="500"),
            group(
                "and",
                cond("event", event="Product Added", days=7),
                cond("event", negate=True, event="Order Completed", days=7),
            ),
        ),
        NOT_ERASED
        + """(p.total_spent >= 500 OR (
            p.id IN (SELECT profile_id FROM events_event WHERE name = 'Product Added'
                AND timestamp >= %(now)s - interval '7 days')
            AND p.id NOT IN (SELECT profile_id FROM events_event WHERE name = 'Order Completed'
                AND timestamp >= %(now)s - interval '7 days' AND profile_id IS NOT NULL)))""",
    ),
    Case(
        "contactable_newsletter",
        "can be mailed about the newsletter now",
        cond("contactable", topic="newsletter"),
        NOT_ERASED
        + """NOT EXISTS (SELECT 1 FROM consent_suppression s
                WHERE s.profile_id = p.id AND s.lifted_at IS NULL)
            AND NOT EXISTS (SELECT 1 FROM consent_contactpreference c
                WHERE c.profile_id = p.id AND c.paused_until >= %(today)s)
            AND EXISTS (SELECT 1 FROM consent_consentstate cs JOIN consent_topic t ON t.id = cs.topic_id
                WHERE cs.profile_id = p.id AND t.key = 'newsletter' AND cs.status = 'confirmed')""",
    ),
]


# --- Data ------------------------------------------------------------------------------------


PROFILES_SQL = f"""{PROFILES_INSERT}
SELECT g,
       created, created,
       {user_id_sql("g")},
       'klant' || g || '@' || {pick("domains", "r1")},
       {pick("first_names", "r2")},
       {pick("last_names", "r3")},
       CASE WHEN r1 < 0.7 THEN date '1945-01-01' + floor(r4 * 21000)::int END,
       CASE WHEN r2 < 0.6 THEN '06-' || (10000000 + floor(r5 * 89999999))::int ELSE '' END,
       {pick("streets", "r5")},
       (1 + floor(r6 * 200)::int)::text,
       (1000 + floor(r6 * 8999)::int)::text || ' ' || chr(65 + floor(r3 * 20)::int) || 'B',
       {pick("cities", "r4 * r4")},
       CASE WHEN r5 < 0.9 THEN 'NL' WHEN r5 < 0.97 THEN 'BE' ELSE 'DE' END,
       CASE WHEN r6 < 0.9 THEN 'nl' ELSE 'en' END,
       'Europe/Amsterdam',
       {LIFECYCLE_STAGE_SQL},
       CASE WHEN r3 < 0.3 THEN 'newsletter' WHEN r3 < 0.5 THEN 'google' ELSE '' END,
       coalesce(o.n, 0), coalesce(o.total, 0), o.first_at, o.last_at, s.last_seen,
       CASE WHEN r4 < 0.5 THEN jsonb_build_object('loyalty_tier', {pick("tiers", "r2")})
            ELSE '{{}}'::jsonb END,
       gen_random_uuid(),
       CASE WHEN g %% 1000 = 0 THEN %(now)s - interval '30 days' END
FROM (
    SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
           random() AS r6, %(now)s - random() * interval '1500 days' AS created
    FROM generate_series(1, %(profiles)s) AS g
) AS r
{ORDER_FIGURES_JOIN}
LEFT JOIN (
    SELECT profile_id, max(timestamp) AS last_seen FROM events_event
    WHERE profile_id IS NOT NULL GROUP BY profile_id
) AS s ON s.profile_id = r.g
"""

CONSENT_SQL = """
INSERT INTO consent_consentstate (profile_id, topic_id, status, basis, requested_at,
                                  confirmed_at, withdrawn_at, updated_at)
SELECT g, %(newsletter)s,
       CASE WHEN r < 0.75 THEN 'confirmed' WHEN r < 0.87 THEN 'withdrawn'
            WHEN r < 0.95 THEN 'pending' ELSE 'none' END,
       CASE WHEN r < 0.75 THEN CASE WHEN b < 0.3 THEN 'soft_opt_in' ELSE 'double_opt_in' END
            ELSE '' END,
       at, CASE WHEN r < 0.87 THEN at + interval '1 hour' END,
       CASE WHEN r >= 0.75 AND r < 0.87 THEN at + interval '90 days' END,
       at
FROM (SELECT g, random() AS r, random() AS b, %(now)s - random() * interval '1000 days' AS at
      FROM generate_series(1, %(profiles)s) AS g) AS x
WHERE (g::bigint * 2654435761) %% 100 < 45;

INSERT INTO consent_consentstate (profile_id, topic_id, status, basis, withdrawn_at, updated_at)
SELECT g, %(service)s, 'withdrawn', '', %(now)s - interval '60 days', %(now)s - interval '60 days'
FROM generate_series(1, %(profiles)s) AS g WHERE (g::bigint * 40503) %% 100 < 5;

INSERT INTO consent_suppression (email_hash, profile_id, reason, created_at, note, lifted_at,
                                 lifted_because)
SELECT md5('s' || g) || md5('t' || g), g,
       CASE WHEN g %% 3 = 0 THEN 'hard_bounce' ELSE 'unsubscribed_all' END,
       %(now)s - interval '100 days', '',
       CASE WHEN g %% 10 = 0 THEN %(now)s - interval '10 days' END, ''
FROM generate_series(1, %(profiles)s) AS g WHERE (g * 7) %% 50 = 1;

INSERT INTO consent_contactpreference (profile_id, paused_until, max_frequency,
                                       no_service_mail, updated_at)
SELECT g, (%(now)s - interval '30 days' + random() * interval '90 days')::date,
       '', g %% 4 = 0, %(now)s
FROM generate_series(1, %(profiles)s) AS g WHERE (g * 13) %% 100 = 3;
"""


USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36",
]


def data_generate(url: str, *, profiles: int, events: int) -> dict[str, float]:
    """Load the data with SQL; returns seconds per step."""
    import psycopg

    params = {
        **sql_params(
            profiles=profiles,
            events=events,
            now=NOW,
            contexts=context_values(USER_AGENTS, locale="nl-NL"),
        ),
        "today": NOW.date(),
        "tiers": TIERS,
    }
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        load_session(cursor)
        cursor.execute("SELECT setseed(0.42)")
        topics = dict(cursor.execute("SELECT key, id FROM consent_topic").fetchall())
        params.update(newsletter=topics["newsletter"], service=topics["service"])
        with bulk_load(cursor, LOADED_TABLES) as steps:
            cursor.execute(EVENTS_SQL, params)
            steps.done(f"{events:,} events")
            cursor.execute(PROFILES_SQL, params)
            sequence_set(cursor, "profiles_profile", profiles)
            steps.done(f"{profiles:,} profiles (value figures from their events)")
            for statement in CONSENT_SQL.split(";"):
                if statement.strip():
                    cursor.execute(statement, params)
            steps.done("permissions, suppressions, contact preferences")
    return steps


# --- Measurements -----------------------------------------------------------------------------


@dataclass
class Timed:
    seconds: list[float]
    first: float
    count: int | None
    timed_out: bool = False


def _timed(run: Any, *, repeat: int) -> Timed:
    """One warm-up run, then `repeat` measured ones (stopped after a timeout)."""
    from django.db import OperationalError

    try:
        start = time.perf_counter()
        count = run()
        first = time.perf_counter() - start
    except OperationalError as exc:
        if "statement timeout" not in str(exc):
            raise
        return Timed([], 0.0, None, timed_out=True)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        again = run()
        seconds.append(time.perf_counter() - start)
        if again != count:
            raise SystemExit(f"the count changed between runs: {count} then {again}")
    return Timed(seconds, first, count)


class SqlCapture:
    """Remembers the last SQL statement Django sent (an execute_wrapper)."""

    def __init__(self) -> None:
        self.sql = ""
        self.params: Any = None

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.sql, self.params = sql, params
        return execute(sql, params, many, context)


def _statement_timeout(seconds: float) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")


def check_count(sql: str) -> int:
    """The hand-written query, with room to hash its subqueries (never timed)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(sql, {"now": NOW, "today": NOW.date()})
        row = cursor.fetchone()
        return int(row[0]) if row else -1


# --- Output ---------------------------------------------------------------------------------


def table_print(meta: dict[str, Any], figures: list[dict[str, Any]], baseline: float) -> None:
    print()
    print(
        f"Selection counts on {meta['profiles']:,} profiles and {meta['events']:,} events "
        f"(median of {REPEAT} warm runs); PostgreSQL {meta['postgresql']}, {meta['cpus']} CPUs"
    )
    head = f"{'':78} {'count':>9} {'median s':>9} {'x count(*)':>10} {'first s':>8}"
    print(head)
    print("-" * len(head))
    print(
        f"{'baseline: SELECT count(*) FROM profiles_profile':78} {meta['profiles']:9,} "
        f"{baseline:9.3f} {1.0:10.1f}"
    )
    for f in figures:
        if f["timed_out"]:
            print(f"{f['label'][:78]:78} {'—':>9} {'> ' + str(meta['timeout']):>9}")
            continue
        print(
            f"{f['label'][:78]:78} {f['count']:9,} {f['median_seconds']:9.3f} "
            f"{f['ratio_to_count_star']:10.1f} {f['first_seconds']:8.2f}"
        )
    slow = [f for f in figures if f["timed_out"] or f["median_seconds"] >= TARGET_SECONDS]
    for f in figures:
        if f.get("explain"):
            how = "ANALYZE, BUFFERS" if not f["timed_out"] else "no ANALYZE: timed out"
            print()
            print(f"EXPLAIN ({how}) of {f['key']}:")
            print(f["explain"])
    print()
    verdict = "met" if not slow else f"NOT met by {', '.join(f['key'] for f in slow)}"
    print(f"Target: every count under {TARGET_SECONDS:.0f} s: {verdict}.")


# --- Main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("selections", __doc__)
    size_options(parser)
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a count is given up (120)"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN (ANALYZE, BUFFERS) every selection, not only those over the target",
    )
    keep_db_options(
        parser, reuse_help="use the database a --keep-db run left (no new data; for trying indexes)"
    )
    args = parser.parse_args(argv)

    url = database_url("_selections")
    lock = run_lock(url)  # noqa: F841 - held until the process ends
    steps: dict[str, float] = {}
    failures: list[str] = []
    figures: list[dict[str, Any]] = []
    with database_fresh(url, keep=args.keep_db, reuse=args.reuse_db):
        django_setup(url)
        from django.db import connection

        from profiles.selections import selection_profiles

        if not args.reuse_db:
            migrate()
            print(
                f"Generating {args.profiles:,} profiles and {args.events:,} events …",
                file=sys.stderr,
            )
            steps = data_generate(url, profiles=args.profiles, events=args.events)
        server = server_version()
        profiles = scalar("SELECT count(*) FROM profiles_profile")
        events = scalar("SELECT reltuples::bigint FROM pg_class WHERE relname = 'events_event'")
        _statement_timeout(args.timeout)

        def count_star() -> int:
            return int(scalar("SELECT count(*) FROM profiles_profile"))

        print("baseline: count(*) …", file=sys.stderr)
        base = _timed(count_star, repeat=REPEAT)
        baseline = statistics.median(base.seconds)

        for case in CASES:
            print(f"{case.key} …", file=sys.stderr)
            capture = SqlCapture()
            with connection.execute_wrapper(capture):
                timed = _timed(
                    lambda c=case: selection_profiles(c.definition, now=NOW).count(),
                    repeat=REPEAT,
                )
            median = statistics.median(timed.seconds) if timed.seconds else None
            figure: dict[str, Any] = {
                "key": case.key,
                "label": case.label,
                "definition": case.definition,
                "count": timed.count,
                "timed_out": timed.timed_out,
                "median_seconds": round(median, 3) if median is not None else None,
                "seconds": [round(s, 3) for s in timed.seconds],
                "first_seconds": round(timed.first, 3),
                "ratio_to_count_star": round(median / baseline, 1) if median else None,
                "sql": capture.sql,
            }
            if args.explain or timed.timed_out or (median or 0) >= TARGET_SECONDS:
                _statement_timeout(0)
                figure["explain"] = explain(
                    capture.sql, capture.params, analyze=not timed.timed_out
                )
                _statement_timeout(args.timeout)
            expected = check_count(case.check_sql)
            figure["expected_count"] = expected
            if timed.count is not None and timed.count != expected:
                failures.append(
                    f"{case.key}: selection_profiles counts {timed.count:,}, "
                    f"the hand-written query {expected:,}"
                )
            figures.append(figure)

    meta = {
        "profiles": profiles,
        "events": events,
        "now": NOW.isoformat(),
        "postgresql": server,
        **run_meta(),
        "target_seconds": TARGET_SECONDS,
        "timeout": args.timeout,
        "generation_seconds": steps,
    }
    table_print(meta, figures, baseline)
    results = {
        **meta,
        "baseline": {
            "label": "SELECT count(*) FROM profiles_profile",
            "median_seconds": round(baseline, 4),
            "seconds": [round(s, 4) for s in base.seconds],
        },
        "figures": figures,
        "target_met": all(
            not f["timed_out"] and f["median_seconds"] < TARGET_SECONDS for f in figures
        ),
        "checks_failed": failures,
    }
    return results_finish("selections", results, failures)


if __name__ == "__main__":
    run_as_script(main)
