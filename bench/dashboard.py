"""Benchmark: the admin's front-page dashboard on 1,000,000 profiles and 10,000,000 events.

Builds, in a freshly created database of its own, the scheduler benchmark's shop
(`bench.shop.data_generate`: profiles, events, the consent ledger and states, twelve
past newsletters as sends and deliveries with opens and clicks) and adds what only the
dashboard reads: NPS invitations and answers over two years, "how did you hear of us"
answers with the profiles' acquisition source, and a few live marketer campaigns.

Then, at the run's clock, times every widget of `surveys.dashboard` on its own: computed
with the cache empty ("first"), read back from the cache ("cached", median of 3) and
computed again bypassing the cache ("again", median of 3); and the whole admin index
page, rendered through Django's test client as a logged-in superuser, with the
dashboard's cache empty ("cold"), filled ("warm", median of 3) and stale (older than
DASHBOARD_CACHE_SECONDS: shown while a refresh is queued), and the refresh as the worker
runs it. The baseline in the same run: a plain `SELECT count(*) FROM profiles_profile`.

The exit status is non-zero only when a correctness check fails (a figure differs from
hand-written SQL, the page lacks the figures, a warm page still reads the big tables),
never because of speed.

    python -m bench dashboard [--profiles N] [--events N] [--deliveries N] [--keep-db]
"""

import datetime as dt
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.db import (
    DEFAULT_REDIS_URL,
    database_fresh,
    database_url,
    django_setup,
    explain,
    redis_delete,
    redis_unreachable,
    run_lock,
    scalar,
    server_version,
    vacuum_analyze,
)
from bench.report import (
    Steps,
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

TARGET_PAGE_SECONDS = 0.2  # the admin index with the figures cached, fresh or stale
SLOW_WIDGET_SECONDS = 1.0  # shown with EXPLAIN ANALYZE of its slowest statement
REPEAT = 3
# Tables a warm page must not read: the dashboard's figures come from the cache.
BIG_TABLES = (
    "profiles_profile",
    "events_event",
    "consent_consentevent",
    "consent_consentstate",
    "campaigns_delivery",
    "campaigns_send",
    "surveys_answer",
)
NPS_WEIGHTS = [1, 1, 1, 2, 2, 3, 4, 8, 12, 14, 12]  # scores 0–10, mostly promoters
HEARD_WEIGHTS = {
    "google": 6,
    "social": 4,
    "friend": 5,
    "ad": 2,
    "tv-radio": 1,
    "press": 1,
    "store": 2,
    "other": 1,
}
OTHER_TEXTS = ["Op de markt", "Via mijn werk", "Een flyer in de brievenbus", "Zag de winkel"]


def _weighted(weights: dict[Any, int] | list[int]) -> list[Any]:
    """An array in which each value appears as often as its weight: a random element of
    it is a weighted choice in SQL."""
    items = weights.items() if isinstance(weights, dict) else enumerate(weights)
    return [value for value, weight in items for _ in range(weight)]


# --- Data: what the scheduler's shop lacks ----------------------------------------------------

# 60% of the customers got the NPS invitation 14 days after their first order (when that
# is before the clock); 35% of those answered within three days.
NPS_INVITATIONS_SQL = """
INSERT INTO surveys_invitation (survey_id, profile_id, send_id, nonce, created_at)
SELECT %(survey)s, p.id, NULL, md5('nps-' || p.id), p.first_order_at + interval '14 days'
FROM profiles_profile p
WHERE p.first_order_at IS NOT NULL AND p.erased_at IS NULL
  AND p.first_order_at + interval '14 days' <= %(now)s
  AND (p.id * 2654435761) %% 100 < 60
"""

NPS_ANSWERS_SQL = """
INSERT INTO surveys_answer (survey_id, profile_id, invitation_id, source, score, choice,
                            other_text, ranking, why, follow_up, submitted_at, entered_by_id)
SELECT i.survey_id, i.profile_id, i.id, 'mail',
       (%(scores)s::int[])[1 + floor(random() * cardinality(%(scores)s::int[]))::int],
       '', '', '{}'::jsonb, CASE WHEN random() < 0.3 THEN 'Snelle levering.' ELSE '' END, '',
       least(i.created_at + random() * interval '3 days', %(now)s), NULL
FROM surveys_invitation i
WHERE i.survey_id = %(survey)s AND random() < 0.35
"""

# A quarter of the customers told how they heard of us when they signed up.
HEARD_ANSWERS_SQL = """
INSERT INTO surveys_answer (survey_id, profile_id, invitation_id, source, score, choice,
                            other_text, ranking, why, follow_up, submitted_at, entered_by_id)
SELECT %(survey)s, id, NULL, 'subscribe', NULL, choice,
       CASE WHEN choice = 'other' THEN (%(others)s::text[])[1 + id %% cardinality(%(others)s::text[])]
            ELSE '' END,
       '{}'::jsonb, '', '', created_at, NULL
FROM (SELECT id, created_at,
             (%(choices)s::text[])[1 + floor(random() * cardinality(%(choices)s::text[]))::int] AS choice
      FROM profiles_profile WHERE erased_at IS NULL AND random() < 0.25) AS x
"""

# The answer becomes the profile's acquisition source, as answer_submit makes it.
ACQUISITION_SQL = """
UPDATE profiles_profile p
SET acquisition_source = CASE WHEN a.choice = 'other' THEN 'other: ' || a.other_text ELSE a.choice END
FROM surveys_answer a
WHERE a.profile_id = p.id AND a.survey_id = %(survey)s
"""


def dashboard_data_generate(url: str) -> dict[str, float]:
    """Survey answers, acquisition sources and live campaigns; returns seconds per step."""
    import psycopg

    from campaigns.models import Campaign, CampaignStatus, TriggerKind
    from consent.models import Topic
    from surveys.models import Survey

    topic = Topic.objects.get(key="newsletter")
    for i in range(5):  # marketer campaigns besides the defaults: inside the 3–8 advice
        Campaign.objects.create(
            key=f"bench-live-{i}",
            name=f"Actie {i + 1}",
            status=CampaignStatus.LIVE,
            topic=topic,
            trigger=TriggerKind.SCHEDULED,
            scheduled_at=NOW + dt.timedelta(days=3 + i),
        )
    surveys = dict(Survey.objects.values_list("key", "id"))
    params = {
        "now": NOW,
        "scores": _weighted(NPS_WEIGHTS),
        "choices": _weighted(HEARD_WEIGHTS),
        "others": OTHER_TEXTS,
    }
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET work_mem = '256MB'")
        steps = Steps()
        cursor.execute(NPS_INVITATIONS_SQL, {**params, "survey": surveys["nps"]})
        cursor.execute(NPS_ANSWERS_SQL, {**params, "survey": surveys["nps"]})
        cursor.execute(HEARD_ANSWERS_SQL, {**params, "survey": surveys["heard-of-us"]})
        cursor.execute(ACQUISITION_SQL, {"survey": surveys["heard-of-us"]})
        steps.done("survey answers and acquisition sources")
        vacuum_analyze(cursor, ("surveys_invitation", "surveys_answer", "profiles_profile"))
        steps.done("VACUUM ANALYZE (surveys, profiles)")
    return steps


# --- The same figures, by hand ----------------------------------------------------------------

HAND_SQL: dict[str, str] = {
    "profiles": "SELECT count(*) FROM profiles_profile WHERE erased_at IS NULL",
    "mail": """
        SELECT count(*), count(opened_at), count(clicked_at),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM events_event e
                   WHERE e.profile_id = d.profile_id AND e.name = 'Order Completed'
                     AND e.timestamp > d.sent_at AND e.timestamp <= d.sent_at + interval '7 days'))
        FROM campaigns_delivery d WHERE d.sent_at >= %(now)s - interval '30 days'""",
    "nps": """
        SELECT count(*), count(*) FILTER (WHERE score >= 9), count(*) FILTER (WHERE score <= 6)
        FROM surveys_answer a JOIN surveys_survey s ON s.id = a.survey_id
        WHERE s.kind = 'nps' AND a.score IS NOT NULL
          -- the widget's dates: 90 days back from the clock's date, in the shop's zone
          AND (a.submitted_at AT TIME ZONE %(zone)s)::date BETWEEN %(start)s AND %(end)s""",
    "opt_in": """
        SELECT count(*) FILTER (WHERE action = 'requested'), count(*) FILTER (WHERE action = 'confirmed')
        FROM consent_consentevent WHERE occurred_at >= %(now)s - interval '90 days'""",
    "sources": """
        SELECT acquisition_source, count(*) FROM profiles_profile
        WHERE erased_at IS NULL AND acquisition_source <> ''
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8""",
}


def hand_rows(name: str) -> list[tuple[Any, ...]]:
    from django.conf import settings
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(
            HAND_SQL[name],
            {
                "now": NOW,
                "zone": settings.TIME_ZONE,
                "start": (NOW - dt.timedelta(days=90)).date(),
                "end": NOW.date(),
            },
        )
        return [tuple(row) for row in cursor.fetchall()]


def figures_check(figures: dict[str, Any]) -> list[str]:
    """What the dashboard shows against the hand-written SQL."""
    failures = []

    def same(label: str, shown: Any, hand: Any) -> None:
        if shown != hand:
            failures.append(f"{label}: the dashboard shows {shown!r}, by hand {hand!r}")

    same("profiles", figures["profiles"], hand_rows("profiles")[0][0])
    mail = figures["mail"]
    same(
        "mail (sent, opened, clicked, converted)",
        (mail["sent"], mail["opened"], mail["clicked"], mail["converted"]),
        hand_rows("mail")[0],
    )
    nps = figures["nps"]
    same(
        "NPS over 90 days (answers, promoters, detractors)",
        (nps["responses"], nps["promoters"], nps["detractors"]),
        hand_rows("nps")[0],
    )
    opt_in = figures["opt_in"]
    same(
        "double opt-in (requested, confirmed)",
        (opt_in["requested"], opt_in["confirmed"]),
        hand_rows("opt_in")[0],
    )
    shown = sorted((row["count"], row["source"]) for row in figures["sources"])
    hand = sorted((n, source) for source, n in hand_rows("sources"))
    same("top acquisition sources", shown, hand)
    for label, value in (
        ("mails in 30 days", mail["sent"]),
        ("NPS answers in 90 days", nps["responses"]),
        ("double opt-in requests", opt_in["requested"]),
        ("acquisition sources", len(figures["sources"])),
    ):
        if not value:
            failures.append(f"{label}: none in the data, so the widget did no real work")
    return failures


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: Any
    seconds: float


@dataclass
class Recorder:
    """Every SQL statement Django sends while installed (an execute_wrapper)."""

    statements: list[Statement] = field(default_factory=list)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append(Statement(sql, params, time.perf_counter() - start))


def recorded(run: Callable[[], Any]) -> tuple[float, Recorder, Any]:
    from django.db import connection

    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    return seconds, recorder, result


def median_of(run: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, list[float]]:
    samples, _result = timed_repeat(run, repeat)
    return statistics.median(samples), samples


def cache_setup(redis_url: str, prefix: str) -> str:
    """This run's cache: Redis (as in production) under a key prefix of its own, so it
    never touches anyone else's keys; in-process memory when Redis cannot be reached."""
    from django.conf import settings

    unreachable = redis_unreachable(redis_url)
    if unreachable:
        print(
            f"Redis at {redis_url} unreachable ({unreachable}); in-process cache.", file=sys.stderr
        )
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        return "locmem"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    return "redis"


def dashboard_forget() -> None:
    """Empty the dashboard's cache entries (and only those)."""
    from django.core.cache import cache

    from surveys.dashboard import REFRESH_LOCK, WIDGETS, _cache_key

    cache.delete_many([*(_cache_key(w) for w in WIDGETS), REFRESH_LOCK])


def widget_measure(widget: Any, *, explain_all: bool) -> dict[str, Any]:
    from surveys.dashboard import widget_figure

    dashboard_forget()
    first, recorder, entry = recorded(lambda: widget_figure(widget, now=NOW))
    if entry["at"] != NOW.isoformat():
        raise SystemExit(f"{widget.key}: the first call came from the cache")
    cached, cached_samples = median_of(lambda: widget_figure(widget, now=NOW))
    again, again_samples = median_of(lambda: widget_figure(widget, now=NOW, fresh=True))
    slowest = max(recorder.statements, key=lambda s: s.seconds, default=None)
    row: dict[str, Any] = {
        "widget": widget.key,
        "cached": widget.cached,
        "first_seconds": round(first, 4),
        "cached_seconds": round(cached, 5),
        "cached_samples": [round(s, 5) for s in cached_samples],
        "again_seconds": round(again, 4),
        "again_samples": [round(s, 4) for s in again_samples],
        "statements": len(recorder.statements),
        "slowest_statement_seconds": round(slowest.seconds, 4) if slowest else None,
    }
    if slowest and (explain_all or first > SLOW_WIDGET_SECONDS):
        print(f"EXPLAIN ANALYZE {widget.key} …", file=sys.stderr)
        row["sql"] = slowest.sql
        row["explain"] = explain(slowest.sql, slowest.params)
    return row


def _big_table_reads(recorder: Recorder) -> list[str]:
    return [s.sql for s in recorder.statements if any(table in s.sql for table in BIG_TABLES)]


def page_measure() -> dict[str, Any]:
    """The admin index through the test client as a logged-in superuser: cold (the
    dashboard's cache empty), warm, and stale (the cached figures older than
    DASHBOARD_CACHE_SECONDS: shown while a refresh is queued); then the refresh itself,
    as the worker runs it; and the figures the page carries."""
    import time_machine
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from surveys.dashboard import REFRESH_LOCK, dashboard_refresh

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first() or (
        user_model.objects.create_superuser("bench-admin", "bench@example.nl", None)
    )
    client = Client()
    results: dict[str, Any] = {}
    with time_machine.travel(NOW, tick=True):
        client.force_login(user)
        client.get("/admin/login/")  # the client's own first request: URLconf, middleware
        dashboard_forget()
        cold, cold_recorder, response = recorded(lambda: client.get("/admin/"))
        results["status"] = response.status_code
        page = response.content.decode()
        warm_samples = []
        warm_reads: list[str] = []
        for _ in range(REPEAT):
            seconds, recorder, _response = recorded(lambda: client.get("/admin/"))
            warm_samples.append(seconds)
            warm_reads += _big_table_reads(recorder)
    later = NOW + dt.timedelta(seconds=settings.DASHBOARD_CACHE_SECONDS + 60)
    with time_machine.travel(later, tick=True):
        stale, stale_recorder, _response = recorded(lambda: client.get("/admin/"))
        queued = cache.get(REFRESH_LOCK) is not None
        refresh, refresh_recorder, _keys = recorded(lambda: dashboard_refresh(now=later))
    results.update(
        cold_seconds=round(cold, 4),
        cold_statements=len(cold_recorder.statements),
        warm_seconds=round(statistics.median(warm_samples), 4),
        warm_samples=[round(s, 4) for s in warm_samples],
        warm_statements=len(recorder.statements),
        warm_big_table_reads=warm_reads,
        stale_seconds=round(stale, 4),
        stale_statements=len(stale_recorder.statements),
        stale_big_table_reads=_big_table_reads(stale_recorder),
        stale_queued_refresh=queued,
        refresh_seconds=round(refresh, 4),
        refresh_statements=len(refresh_recorder.statements),
        page_bytes=len(page),
    )
    start = page.find('id="kb-figures"')
    if start >= 0:
        body = page[page.find(">", start) + 1 : page.find("</script>", start)]
        results["figures"] = json.loads(body)
    return results


def baseline_measure() -> tuple[float, list[float]]:
    from django.db import connection

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_profile")
            cursor.fetchone()

    count()  # warm-up
    return median_of(count)


# --- Output ---------------------------------------------------------------------------------


def table_print(meta: dict[str, Any], rows: list[dict[str, Any]], page: dict[str, Any]) -> None:
    baseline = meta["baseline_seconds"]
    print()
    print(
        f"Dashboard on {meta['profiles']:,} profiles, ~{meta['events']:,} events, "
        f"{meta['deliveries']:,} deliveries, {meta['answers']:,} survey answers "
        f"(PostgreSQL {meta['postgresql']}, cache: {meta['cache']}, {meta['cpus']} CPUs)"
    )
    print(f"Baseline: SELECT count(*) FROM profiles_profile = {baseline * 1000:.1f} ms (median)")
    print()
    header = (
        f"{'widget':14} {'first s':>8} {'x count':>8} {'again s':>8} {'cached ms':>10} {'stmts':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['widget']:14} {row['first_seconds']:8.3f} "
            f"{row['first_seconds'] / baseline:8.1f} {row['again_seconds']:8.3f} "
            + (f"{row['cached_seconds'] * 1000:10.2f}" if row["cached"] else f"{'(live)':>10}")
            + f" {row['statements']:6d}"
        )
    total_first = sum(r["first_seconds"] for r in rows)
    total_again = sum(r["again_seconds"] for r in rows)
    print("-" * len(header))
    print(f"{'all widgets':14} {total_first:8.3f} {total_first / baseline:8.1f} {total_again:8.3f}")
    print()
    print(
        f"Admin index page: cold {page['cold_seconds']:.3f} s "
        f"(x{page['cold_seconds'] / baseline:.1f} count(*), {page['cold_statements']} statements), "
        f"warm {page['warm_seconds'] * 1000:.1f} ms "
        f"(x{page['warm_seconds'] / baseline:.2f} count(*), {page['warm_statements']} statements)"
    )
    print(
        f"  stale (older than the cache time: shown, refresh queued) "
        f"{page['stale_seconds'] * 1000:.1f} ms (x{page['stale_seconds'] / baseline:.2f} count(*), "
        f"{page['stale_statements']} statements); the refresh in the worker "
        f"{page['refresh_seconds']:.3f} s (x{page['refresh_seconds'] / baseline:.1f} count(*), "
        f"{page['refresh_statements']} statements)"
    )
    slow = [r["widget"] for r in rows if r["first_seconds"] > SLOW_WIDGET_SECONDS]
    print(
        f"Widgets over {SLOW_WIDGET_SECONDS:.0f} s with the cache empty (the worker's "
        f"refresh computes them, a page only on the very first visit): {', '.join(slow) or 'none'}."
    )
    shown = max(page["warm_seconds"], page["stale_seconds"])
    verdict = "met" if shown < TARGET_PAGE_SECONDS else "missed"
    print(
        f"Target: the page with cached or stale figures under {TARGET_PAGE_SECONDS:.1f} s: "
        f"{verdict} ({shown * 1000:.0f} ms)."
    )
    for row in rows:
        if "explain" in row:
            print(f"\n-- {row['widget']}: slowest statement\n{row['sql']}\n{row['explain']}")


# --- Main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("dashboard", __doc__)
    size_options(parser)
    parser.add_argument(
        "--deliveries", type=int, default=2_000_000, help="past newsletter deliveries (2,000,000)"
    )
    parser.add_argument("--seed", type=int, default=20251123, help="seed of the data")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"Redis for the cache, under a key prefix of the run's own ({DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE every widget's slowest statement"
    )
    keep_db_options(parser, reuse_help="measure the database a --keep-db run left")
    args = parser.parse_args(argv)

    url = database_url("_dashboard")
    lock = run_lock(url)  # noqa: F841 - held until the process ends
    prefix = f"klantbeeld-bench-dashboard-{os.getpid()}"
    failures: list[str] = []
    steps: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    cache_kind = ""
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["CELERY_BROKER_URL"] = "memory://"  # nothing of this run reaches a worker
    with database_fresh(url, keep=args.keep_db, reuse=args.reuse_db):
        try:
            django_setup(url)
            from django.conf import settings

            # The page's static URLs are not what is measured: no collectstatic manifest.
            warnings.filterwarnings("ignore", message="No directory at")
            settings.STORAGES = {
                **settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
            cache_kind = cache_setup(args.redis_url, prefix)
            if not args.reuse_db:
                steps = data_load(
                    url,
                    profiles=args.profiles,
                    events=args.events,
                    deliveries=args.deliveries,
                    seed=args.seed,
                )
                steps.update(dashboard_data_generate(url))

            from surveys.dashboard import WIDGETS

            loadavg_before = loadavg()
            baseline, baseline_samples = baseline_measure()
            for widget in WIDGETS:
                print(f"widget {widget.key} …", file=sys.stderr)
                rows.append(widget_measure(widget, explain_all=args.explain))
            print("admin index page …", file=sys.stderr)
            page = page_measure()
            baseline_after, _samples = baseline_measure()
            loadavg_after = loadavg()

            if page["status"] != 200:
                failures.append(f"the admin index answered {page['status']}")
            if "figures" not in page:
                failures.append("the admin index carries no dashboard figures")
            else:
                failures += figures_check(page["figures"])
            for state in ("warm", "stale"):
                if page[f"{state}_big_table_reads"]:
                    failures.append(
                        f"a {state} page still read the big tables: {page[f'{state}_big_table_reads']}"
                    )
            if not page["stale_queued_refresh"]:
                failures.append("a page with stale figures queued no refresh")
            meta = {
                "profiles": scalar("SELECT count(*) FROM profiles_profile"),
                "events": scalar(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = 'events_event'"
                ),
                "deliveries": scalar("SELECT count(*) FROM campaigns_delivery"),
                "answers": scalar("SELECT count(*) FROM surveys_answer"),
                "ledger_rows": scalar("SELECT count(*) FROM consent_consentevent"),
                "postgresql": server_version(),
            }
        finally:
            if cache_kind == "redis":
                redis_delete(args.redis_url, f"{prefix}:*")

    meta.update(
        now=NOW.isoformat(),
        cache=cache_kind,
        baseline_seconds=round(baseline, 5),
        baseline_samples=[round(s, 5) for s in baseline_samples],
        baseline_after_seconds=round(baseline_after, 5),
        **run_meta(),
        target_page_seconds=TARGET_PAGE_SECONDS,
        generation_seconds=steps,
        loadavg_before=loadavg_before,
        loadavg_after=loadavg_after,
    )
    for row in rows:
        row["first_to_count"] = round(row["first_seconds"] / baseline, 1)
    page_figures = page.pop("figures", None)
    page.update(
        cold_to_count=round(page["cold_seconds"] / baseline, 1),
        warm_to_count=round(page["warm_seconds"] / baseline, 2),
        stale_to_count=round(page["stale_seconds"] / baseline, 2),
        refresh_to_count=round(page["refresh_seconds"] / baseline, 1),
    )
    table_print(meta, rows, page)
    results = {
        **meta,
        "widgets": rows,
        "page": page,
        "figures": page_figures,
        "checks_failed": failures,
    }
    return results_finish("dashboard", results, failures)


if __name__ == "__main__":
    run_as_script(main)
