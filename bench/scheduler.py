"""Benchmark: the scheduler's full pass over 1,000,000 profiles and 10,000,000 events.

Generates, in a freshly created database of its own, the shop of `bench/shop.py`
(profiles, events, the consent ledger, open baskets and past newsletters, with realistic
shares of customers due for each lifecycle mail at the run's clock; the sunset rule
switched on for the run).

Then times `sends_schedule(now=…)`, the scheduler's step 1 (every live campaign's trigger
as one `INSERT … SELECT … ON CONFLICT DO NOTHING`): once on the fresh data ("cold", which
inserts every due send) and three times more ("warm", which must insert nothing: a
second pass is idempotent). Next to it, the same due sends found by hand-written SQL (one
query per campaign, written independently of the ORM), timed in the same run; their
counts and their (campaign, profile, occurrence) keys must equal what the pass inserted.
The exit status is non-zero only when a correctness check fails, never because of speed.

    python -m bench scheduler [--profiles N] [--events N] [--deliveries N] [--keep-db]
"""

import datetime as dt
import functools
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.db import (
    database_fresh,
    database_url,
    django_setup,
    explain,
    run_lock,
    scalar,
    server_version,
)
from bench.report import (
    keep_db_options,
    loadavg,
    parser_make,
    results_finish,
    run_as_script,
    run_meta,
    size_options,
    timed_repeat,
)
from bench.shop import NOW, data_load

TARGET_SECONDS = 60.0
EXPLAIN_OVER_SECONDS = 10.0
WARM_PASSES = 3
HAND_REPEAT = 3

# --- The same due sends, by hand ----------------------------------------------------------------
#
# One query per trigger kind, for the campaign %(campaign)s, giving (campaign, profile,
# occurrence) rows; windows from the campaign's own delay and late cut-off. Written from
# the rules in campaigns/models.py and the docs, not from the ORM code: the birthday in
# one pass with a time-zone conversion per row instead of one query per zone, the NPS
# "first time" as the customer's earliest order instead of NOT EXISTS an earlier one.
# Sends this pass made (created_at = now) do not count as "already sent" for re-entry.
# Erased customers (their bare events and ledger rows stay) get nothing.

_WINDOW = "BETWEEN %(now)s - c.delay - c.late_cutoff AND %(now)s - c.delay"
_ONCE = "CASE WHEN c.reentry = 'once' THEN 'once' ELSE "

HAND_SQL: dict[str, str] = {
    "consent": f"""
        SELECT c.id, e.profile_id, {_ONCE} 'consent:' || e.id END
        FROM campaigns_campaign c
        JOIN consent_consentevent e ON e.topic_id = c.topic_id AND e.action = 'confirmed'
             AND e.occurred_at {_WINDOW}
        JOIN profiles_profile p ON p.id = e.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s""",
    "basket": f"""
        SELECT c.id, a.profile_id, {_ONCE} 'basket:' || a.last_basket_at::text END
        FROM campaigns_campaign c
        JOIN events_activity a ON a.last_basket_at {_WINDOW} AND a.basket <> '[]'::jsonb
        JOIN profiles_profile p ON p.id = a.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s""",
    "event": f"""
        SELECT c.id, e.profile_id, {_ONCE} 'event:' || e.id END
        FROM campaigns_campaign c
        JOIN events_event e ON e.name = c.trigger_event AND e.profile_id IS NOT NULL
             AND e.timestamp {_WINDOW}
        JOIN profiles_profile p ON p.id = e.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND c.reentry <> 'days'""",
    "first_event": f"""
        SELECT c.id, f.profile_id, 'at:' || f.first_at::text
        FROM campaigns_campaign c
        JOIN LATERAL (
            SELECT e.profile_id, min(e.timestamp) AS first_at FROM events_event e
            WHERE e.name = c.trigger_event AND e.profile_id IN (
                SELECT w.profile_id FROM events_event w
                WHERE w.name = c.trigger_event AND w.timestamp {_WINDOW})
            GROUP BY e.profile_id) AS f ON f.first_at {_WINDOW}
        JOIN profiles_profile p ON p.id = f.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND c.reentry = 'days' AND NOT EXISTS (
            SELECT 1 FROM campaigns_send s
            WHERE s.campaign_id = c.id AND s.profile_id = f.profile_id
              AND s.created_at < %(now)s AND s.status <> 'skipped'
              AND s.due_at >= %(now)s - c.reentry_days * interval '1 day')""",
    "inactivity": """
        SELECT c.id, p.id, CASE WHEN c.reentry = 'once' THEN 'once'
                                ELSE 'lapse:' || p.last_order_at::text END
        FROM campaigns_campaign c
        JOIN profiles_profile p ON p.order_count >= 1 AND p.erased_at IS NULL
             AND p.last_order_at BETWEEN
                 %(now)s - coalesce(c.trigger_number, 180) * interval '1 day' - c.delay - c.late_cutoff
                 AND %(now)s - coalesce(c.trigger_number, 180) * interval '1 day' - c.delay
        WHERE c.id = %(campaign)s""",
    "yearly": """
        SELECT c.id, p.id, CASE WHEN c.reentry = 'once' THEN 'once'
                                ELSE 'year:' || extract(year FROM d.day)::int END
        FROM campaigns_campaign c
        CROSS JOIN profiles_profile p
        CROSS JOIN LATERAL (VALUES ((%(now)s AT TIME ZONE p.timezone)::date),
                                   ((%(now)s AT TIME ZONE p.timezone)::date - 1)) AS d(day)
        WHERE c.id = %(campaign)s AND coalesce(nullif(c.trigger_field, ''), 'birth_date') = 'birth_date'
          AND p.erased_at IS NULL AND p.birth_date IS NOT NULL
          AND ((d.day + coalesce(c.send_at_local_time, time '09:00')) AT TIME ZONE p.timezone)
              + c.delay BETWEEN %(now)s - c.late_cutoff AND %(now)s
          AND (to_char(p.birth_date, 'MM-DD') = to_char(d.day, 'MM-DD')
               OR (to_char(p.birth_date, 'MM-DD') = '02-29' AND to_char(d.day, 'MM-DD') = '02-28'
                   AND extract(day FROM make_date(extract(year FROM d.day)::int, 3, 1) - 1) = 28))""",
    "milestone": """
        SELECT c.id, p.id, 'milestone:' || c.trigger_number
        FROM campaigns_campaign c
        JOIN profiles_profile p ON p.order_count = coalesce(c.trigger_number, 10)
             AND p.erased_at IS NULL
             AND p.last_order_at BETWEEN %(now)s - c.delay - c.late_cutoff AND %(now)s - c.delay
        WHERE c.id = %(campaign)s""",
    "sunset": """
        WITH sp AS MATERIALIZED (
                 SELECT active, mails, %(now)s - days * interval '1 day' AS since
                 FROM campaigns_sunsetpolicy ORDER BY id LIMIT 1),
             quiet AS (
                 SELECT d.profile_id FROM campaigns_delivery d
                 WHERE d.category = 'commercial' AND d.sent_at >= (SELECT since FROM sp)
                 GROUP BY d.profile_id
                 HAVING count(*) >= (SELECT mails FROM sp)
                    AND count(d.opened_at) = 0 AND count(d.clicked_at) = 0)
        SELECT c.id, p.id, 'sunset:' || %(today)s::text
        FROM campaigns_campaign c
        CROSS JOIN sp
        JOIN quiet q ON true
        JOIN profiles_profile p ON p.id = q.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND sp.active
          AND NOT EXISTS (
              SELECT 1 FROM consent_contactpreference cp WHERE cp.profile_id = p.id
                AND (cp.sunset_at IS NOT NULL OR cp.sunset_lifted_at >= sp.since))
          AND NOT EXISTS (
              SELECT 1 FROM campaigns_send s WHERE s.campaign_id = c.id AND s.profile_id = p.id
                AND s.created_at < %(now)s AND s.due_at >= sp.since)""",
}


@dataclass
class LiveCampaign:
    pk: int
    key: str
    trigger: str
    reentry: str

    @property
    def hand_kind(self) -> str | None:
        """The HAND_SQL that finds this campaign's sends (None: not written by hand)."""
        if self.trigger == "event":
            return "event" if self.reentry != "days" else None
        if self.trigger == "first_event":
            return "first_event" if self.reentry == "days" else None
        return self.trigger if self.trigger in HAND_SQL else None


def campaigns_live() -> list[LiveCampaign]:
    from campaigns.models import Campaign, CampaignStatus

    return [
        LiveCampaign(c.pk, c.key, c.trigger, c.reentry)
        for c in Campaign.objects.filter(status=CampaignStatus.LIVE).order_by("pk")
    ]


def hand_params(campaign: LiveCampaign) -> dict[str, Any]:
    return {"now": NOW, "today": NOW.date().isoformat(), "campaign": campaign.pk}


def hand_count(campaign: LiveCampaign) -> int:
    from django.db import connection

    kind = campaign.hand_kind
    assert kind is not None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT * FROM ({HAND_SQL[kind]}) AS h(c, p, o)) AS x",
            hand_params(campaign),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else -1


def hand_compare(campaign: LiveCampaign) -> tuple[int, int]:
    """(due by hand but not inserted, inserted but not due by hand), as keys."""
    from django.db import connection

    kind = campaign.hand_kind
    assert kind is not None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH hand AS (SELECT c, p, o::text FROM ({HAND_SQL[kind]}) AS h(c, p, o)),
                     made AS (SELECT campaign_id, profile_id, occurrence::text FROM campaigns_send
                              WHERE campaign_id = %(campaign)s AND created_at = %(now)s)
                SELECT (SELECT count(*) FROM (SELECT * FROM hand EXCEPT SELECT * FROM made) a),
                       (SELECT count(*) FROM (SELECT * FROM made EXCEPT SELECT * FROM hand) b)""",
            hand_params(campaign),
        )
        row = cursor.fetchone()
        return (int(row[0]), int(row[1])) if row else (-1, -1)


# --- The pass ----------------------------------------------------------------------------------


@dataclass
class Statement:
    campaign: str
    seconds: float
    sql: str
    params: Any


@dataclass
class Pass:
    seconds: float
    created: dict[str, int]
    per_campaign: dict[str, float] = field(default_factory=dict)
    statements: dict[str, int] = field(default_factory=dict)
    slowest: dict[str, Statement] = field(default_factory=dict)


def pass_measure() -> Pass:
    """One `sends_schedule(now=NOW)`, timed as a whole and per campaign (its finders
    wrapped for the run), with the statements each campaign sent and its slowest one."""
    from django.db import connection

    from campaigns import triggers

    per_campaign: dict[str, float] = {}
    statements: dict[str, int] = defaultdict(int)
    slowest: dict[str, Statement] = {}
    current = {"key": "(listing)"}

    def timed(finder: Callable[..., int]) -> Callable[..., int]:
        def run(campaign: Any, now: dt.datetime) -> int:
            current["key"] = campaign.key
            start = time.perf_counter()
            try:
                return finder(campaign, now)
            finally:
                per_campaign[campaign.key] = time.perf_counter() - start
                current["key"] = "(listing)"

        return run

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - start
            key = current["key"]
            statements[key] += 1
            if key not in slowest or slowest[key].seconds < seconds:
                slowest[key] = Statement(key, seconds, sql, params)

    original = dict(triggers.FINDERS)
    triggers.FINDERS.update({kind: timed(finder) for kind, finder in original.items()})
    try:
        with connection.execute_wrapper(capture):
            start = time.perf_counter()
            created = triggers.sends_schedule(now=NOW)
            seconds = time.perf_counter() - start
    finally:
        triggers.FINDERS.update(original)
    return Pass(seconds, created, per_campaign, dict(statements), slowest)


# --- Output --------------------------------------------------------------------------------------


def table_print(meta: dict[str, Any], rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    print()
    print(
        f"Scheduler pass (sends_schedule) on {meta['profiles']:,} profiles, {meta['events']:,} "
        f"events, {meta['ledger_rows']:,} ledger rows, {meta['deliveries']:,} past deliveries; "
        f"now = {meta['now']}; PostgreSQL {meta['postgresql']}, {meta['cpus']} CPUs"
    )
    head = (
        f"{'campaign':18} {'trigger':12} {'cold rows':>9} {'hand rows':>9} {'cold s':>8} "
        f"{'warm s':>8} {'hand s':>8} {'warm/hand':>9} {'stmts':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        hand_s = f"{r['hand_seconds']:8.3f}" if r["hand_seconds"] is not None else f"{'—':>8}"
        ratio = f"{r['warm_to_hand']:9.1f}" if r["warm_to_hand"] is not None else f"{'—':>9}"
        hand_rows = f"{r['hand_rows']:9,}" if r["hand_rows"] is not None else f"{'—':>9}"
        print(
            f"{r['key']:18} {r['trigger']:12} {r['cold_rows']:9,} {hand_rows} "
            f"{r['cold_seconds']:8.3f} {r['warm_seconds']:8.3f} {hand_s} {ratio} {r['statements']:5}"
        )
    print("-" * len(head))
    print(
        f"{'full pass':31} {totals['cold_rows']:9,} {totals['hand_rows']:9,} "
        f"{totals['cold_seconds']:8.2f} {totals['warm_seconds']:8.2f} "
        f"{totals['hand_seconds']:8.2f} {totals['warm_to_hand']:9.1f}"
    )
    print()
    print(
        f"cold pass {totals['cold_seconds']:.2f} s = {totals['cold_to_hand']:.1f} x the hand-written "
        f"queries ({totals['hand_seconds']:.2f} s, median of {HAND_REPEAT}); warm passes "
        f"{', '.join(f'{s:.2f}' for s in totals['warm_samples'])} s (median "
        f"{totals['warm_seconds']:.2f} s = {totals['warm_to_hand']:.1f} x hand)."
    )
    print(
        f"Idempotency: the warm passes inserted {totals['warm_inserted']} rows (must be 0). "
        f"Load average before/after: {meta['loadavg_before']} / {meta['loadavg_after']}."
    )
    for r in rows:
        if r.get("explain"):
            print()
            print(
                f"EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of {r['key']} (warm, rolled back):"
            )
            print(r["explain"])
    verdict = "met" if totals["cold_seconds"] < TARGET_SECONDS else "NOT met"
    print()
    print(
        f"Target: the full pass under {TARGET_SECONDS:.0f} s: {verdict} ({totals['cold_seconds']:.1f} s cold)."
    )


# --- Main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("scheduler", __doc__)
    size_options(parser)
    parser.add_argument(
        "--deliveries",
        type=int,
        default=2_000_000,
        help="past newsletter deliveries for the sunset rule (about 2,000,000; 0: rule off)",
    )
    parser.add_argument("--seed", type=int, default=20251123, help="seed of the data")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE every campaign's slowest statement"
    )
    keep_db_options(
        parser,
        reuse_help="use the database a --keep-db run left (its sends of this clock are deleted first)",
    )
    args = parser.parse_args(argv)

    url = database_url("_scheduler")
    lock = run_lock(url)  # noqa: F841 - held until the process ends
    failures: list[str] = []
    steps: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    with database_fresh(url, keep=args.keep_db, reuse=args.reuse_db):
        django_setup(url)
        from django.db import connection

        if not args.reuse_db:
            steps = data_load(
                url,
                profiles=args.profiles,
                events=args.events,
                deliveries=args.deliveries,
                seed=args.seed,
            )
        else:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM campaigns_send WHERE created_at = %s", [NOW])
                cursor.execute("VACUUM (ANALYZE) campaigns_send")

        server = server_version()
        profiles = scalar("SELECT count(*) FROM profiles_profile")
        events = scalar("SELECT reltuples::bigint FROM pg_class WHERE relname = 'events_event'")
        ledger = scalar("SELECT count(*) FROM consent_consentevent")
        deliveries = scalar("SELECT count(*) FROM campaigns_delivery")
        sends_before = scalar("SELECT count(*) FROM campaigns_send")
        live = campaigns_live()
        loadavg_before = loadavg()

        print("cold pass …", file=sys.stderr)
        cold = pass_measure()
        warm: list[Pass] = []
        for i in range(WARM_PASSES):
            print(f"warm pass {i + 1} …", file=sys.stderr)
            warm.append(pass_measure())
        sends_after = scalar("SELECT count(*) FROM campaigns_send")

        hand: dict[str, tuple[list[float], int]] = {}
        for campaign in live:
            if campaign.hand_kind is None:
                continue
            print(f"hand-written query for {campaign.key} …", file=sys.stderr)
            hand[campaign.key] = timed_repeat(functools.partial(hand_count, campaign), HAND_REPEAT)
        loadavg_after = loadavg()

        # Correctness: idempotency, the counts and the very keys.
        warm_inserted = sum(sum(p.created.values()) for p in warm)
        if warm_inserted:
            failures.append(
                f"the warm passes inserted {warm_inserted} rows; a second pass must insert none"
            )
        if sends_after - sends_before != sum(cold.created.values()):
            failures.append(
                f"sends table grew by {sends_after - sends_before:,}, "
                f"the pass reported {sum(cold.created.values()):,}"
            )
        slowest_key = max(cold.per_campaign, key=lambda k: cold.per_campaign[k])
        for campaign in live:
            key = campaign.key
            warm_seconds = statistics.median(p.per_campaign.get(key, 0.0) for p in warm)
            row: dict[str, Any] = {
                "key": key,
                "trigger": campaign.trigger,
                "cold_rows": cold.created.get(key, 0),
                "cold_seconds": round(cold.per_campaign.get(key, 0.0), 3),
                "warm_seconds": round(warm_seconds, 3),
                "warm_samples": [round(p.per_campaign.get(key, 0.0), 3) for p in warm],
                "statements": cold.statements.get(key, 0),
                "hand_rows": None,
                "hand_seconds": None,
                "warm_to_hand": None,
                "slowest_statement_seconds": round(cold.slowest[key].seconds, 3)
                if key in cold.slowest
                else None,
            }
            if key in hand:
                samples, count = hand[key]
                median = statistics.median(samples)
                row.update(
                    hand_rows=count,
                    hand_seconds=round(median, 3),
                    hand_samples=[round(s, 3) for s in samples],
                    warm_to_hand=round(warm_seconds / median, 1) if median else None,
                )
                if count != row["cold_rows"]:
                    failures.append(
                        f"{key}: the pass inserted {row['cold_rows']:,}, by hand {count:,} are due"
                    )
                missing, extra = hand_compare(campaign)
                row.update(keys_only_by_hand=missing, keys_only_by_pass=extra)
                if missing or extra:
                    failures.append(
                        f"{key}: {missing:,} due sends only by hand, {extra:,} only by the pass"
                    )
            if key in cold.slowest and (
                args.explain
                or (key == slowest_key and cold.per_campaign[key] > EXPLAIN_OVER_SECONDS)
            ):
                print(f"EXPLAIN ANALYZE {key} …", file=sys.stderr)
                row["explain"] = explain(cold.slowest[key].sql, cold.slowest[key].params)
                row["sql"] = cold.slowest[key].sql
            rows.append(row)

    hand_total = sum(r["hand_seconds"] or 0.0 for r in rows)
    warm_totals = [p.seconds for p in warm]
    warm_median = statistics.median(warm_totals)
    totals = {
        "cold_seconds": round(cold.seconds, 3),
        "warm_seconds": round(warm_median, 3),
        "warm_samples": [round(s, 3) for s in warm_totals],
        "hand_seconds": round(hand_total, 3),
        "cold_to_hand": round(cold.seconds / hand_total, 1) if hand_total else None,
        "warm_to_hand": round(warm_median / hand_total, 1) if hand_total else None,
        "cold_rows": sum(cold.created.values()),
        "hand_rows": sum(r["hand_rows"] or 0 for r in rows),
        "warm_inserted": warm_inserted,
    }
    meta = {
        "profiles": profiles,
        "events": events,
        "ledger_rows": ledger,
        "deliveries": deliveries,
        "now": NOW.isoformat(),
        "postgresql": server,
        **run_meta(),
        "target_seconds": TARGET_SECONDS,
        "generation_seconds": steps,
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg_after,
    }
    table_print(meta, rows, totals)
    results = {**meta, "totals": totals, "campaigns": rows, "checks_failed": failures}
    return results_finish("scheduler", results, failures)


if __name__ == "__main__":
    run_as_script(main)
