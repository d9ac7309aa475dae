"""Benchmark: campaign mails per second per worker, through a real SMTP connection.

Measures, in one run on a freshly created database of its own, against a local SMTP
server (aiosmtpd, in a process of its own, accepting and discarding every message):

  (a) the engine: `sends_send_due(now=…)` — claim, re-check, render, send, record — in
      one process (one worker) for N due welcome sends (customers who confirmed the
      newsletter in the last 24 h; the sends made by `sends_schedule`); mails/s;
  (b) the baseline: the same N messages rendered first (`campaigns.rendering.render`,
      built as the engine builds them), then sent with plain `smtplib` over one
      connection; mails/s of the sending alone, and the time the rendering took;
  (c) memory: the peak RSS of the worker process for a smaller audience (1,000) and for
      N, each in a fresh process: it should not grow with the audience.

Each engine run is a cohort of customers of its own at a clock of its own, so every run
starts from nothing sent. When (a) misses the target (200 mails/s) the engine runs once
more under cProfile on a cohort of its own, and the top costs are printed (file:function).
The exit status is non-zero only when a correctness check fails (a mail lost, sent twice,
or recorded wrongly), never because of speed.

    python -m bench sending [--mails N] [--small-mails N] [--profile auto|always|never] [--keep-db]
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import resource
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.data import (
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LEDGER_COPY,
    customer_email,
    customer_email_sql,
    ledger_ip,
    user_id_sql,
)
from bench.db import (
    database_fresh,
    database_url,
    django_setup,
    free_port,
    measure,
    migrate,
    run_lock,
    sequence_set,
    server_version,
    vacuum_analyze,
)
from bench.report import (
    RESULTS,
    ROOT,
    cumulative_seconds,
    keep_db_options,
    loadavg,
    parser_make,
    results_finish,
    run_as_script,
    run_meta,
    top,
)

TARGET_MAILS_PER_SECOND = 200.0
# Cohort i runs at BASE + i × 2 days (12:00 UTC: 13:00 in Amsterdam, inside the send
# window); its customers confirmed in the 20 hours before, so no other cohort is due then.
BASE = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
BACKGROUND_PROFILES = 100_000  # other customers in the tables, never mailed here
PROJECT_DIRS = ("campaigns/", "consent/", "core/", "events/", "profiles/", "surveys/", "config/")

# The SMTP server: accepts every message and keeps only counts; answers "count" and
# "reset" on stdin.
SERVER_CODE = r"""
import json, sys
from aiosmtpd.controller import Controller

class Sink:
    def __init__(self):
        self.reset()

    def reset(self):
        self.messages, self.recipients, self.duplicates, self.bytes = 0, set(), 0, 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        for rcpt in envelope.rcpt_tos:
            self.duplicates += rcpt in self.recipients
            self.recipients.add(rcpt)
        self.bytes += len(envelope.content)
        return "250 OK"

sink = Sink()
controller = Controller(sink, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "count":
        print(json.dumps({"messages": sink.messages, "recipients": len(sink.recipients),
                          "duplicates": sink.duplicates, "bytes": sink.bytes}), flush=True)
    elif command == "reset":
        sink.reset()
        print("ok", flush=True)
    elif command == "quit":
        break
controller.stop()
"""


@dataclass
class SmtpServer:
    process: subprocess.Popen
    port: int
    log: IO[str]

    def ask(self, command: str) -> str:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def count(self) -> dict[str, int]:
        return dict(json.loads(self.ask("count")))

    def reset(self) -> None:
        self.ask("reset")

    def __enter__(self) -> "SmtpServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.ask("quit")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def smtp_start() -> SmtpServer:
    port = free_port()
    RESULTS.mkdir(exist_ok=True)
    log = (RESULTS / "sending-smtp.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", SERVER_CODE, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise SystemExit("the SMTP server did not start; see bench/results/sending-smtp.log")
    return SmtpServer(process, port, log)


# --- Data -------------------------------------------------------------------------------------


@dataclass
class Cohort:
    name: str
    first_id: int
    size: int
    now: dt.datetime

    @property
    def ids(self) -> range:
        return range(self.first_id, self.first_id + self.size)


PROFILES_SQL = f"""
INSERT INTO profiles_profile (
    id, created_at, updated_at, user_id, email, first_name, last_name, phone, street,
    house_number, postal_code, city, country, language, timezone, lifecycle_stage,
    acquisition_source, order_count, total_spent, custom_attributes, public_id)
SELECT g, %(created)s, %(created)s, {user_id_sql("g")},
       {customer_email_sql("g")},
       (%(first_names)s::text[])[1 + (g * 7) %% cardinality(%(first_names)s::text[])],
       (%(last_names)s::text[])[1 + (g * 13) %% cardinality(%(last_names)s::text[])],
       '', 'Kerkstraat', (1 + g %% 200)::text, '1234 AB', 'Utrecht', 'NL',
       CASE WHEN g %% 10 = 0 THEN 'en' ELSE 'nl' END, 'Europe/Amsterdam', 'prospect', '',
       0, 0, '{{}}'::jsonb, gen_random_uuid()
FROM generate_series(1, %(profiles)s) AS g
"""

# The background customers: 45% subscribed long ago (what the permission lookups see).
BACKGROUND_CONSENT_SQL = """
INSERT INTO consent_consentstate (profile_id, topic_id, status, basis, requested_at,
                                  confirmed_at, updated_at, consent_text_id)
SELECT g, %(topic)s, 'confirmed', 'double_opt_in', %(at)s, %(at)s, %(at)s, %(text)s
FROM generate_series(%(first)s::int, %(last)s::int) AS g WHERE (g * 2654435761::bigint) %% 100 < 45
"""


def data_generate(url: str, cohorts: list[Cohort], background: int, seed: int) -> None:
    """Profiles (the background and every cohort), and for the cohorts' customers a
    double opt-in for the newsletter in the 20 hours before their cohort's clock: the
    ledger rows by COPY, the consent states by SQL."""
    import psycopg

    rng = random.Random(seed)
    total = background + sum(c.size for c in cohorts)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        topic, text = cursor.execute(
            "SELECT id, current_text_id FROM consent_topic WHERE key = 'newsletter'"
        ).fetchone() or (None, None)
        cursor.execute(
            PROFILES_SQL,
            {
                "profiles": total,
                "created": BASE - dt.timedelta(days=400),
                "domains": DOMAINS,
                "first_names": FIRST_NAMES,
                "last_names": LAST_NAMES,
            },
        )
        sequence_set(cursor, "profiles_profile", total)
        cursor.execute(
            BACKGROUND_CONSENT_SQL,
            {
                "topic": topic,
                "text": text,
                "at": BASE - dt.timedelta(days=200),
                "first": 1,
                "last": background,
            },
        )
        states = []
        with cursor.copy(LEDGER_COPY) as copy:
            for cohort in cohorts:
                for pid in cohort.ids:
                    confirmed = cohort.now - dt.timedelta(minutes=rng.randint(10, 20 * 60))
                    asked = confirmed - dt.timedelta(minutes=rng.randint(1, 60))
                    email, ip = customer_email(pid), ledger_ip(pid)
                    for action, at in (("requested", asked), ("confirmed", confirmed)):
                        copy.write_row(
                            (pid, topic, action, at, "form", email, ip, "bench", "", text)
                        )
                    states.append(
                        (
                            pid,
                            topic,
                            "confirmed",
                            "double_opt_in",
                            asked,
                            confirmed,
                            confirmed,
                            text,
                        )
                    )
        with cursor.copy(
            "COPY consent_consentstate (profile_id, topic_id, status, basis, requested_at,"
            " confirmed_at, updated_at, consent_text_id) FROM STDIN"
        ) as copy:
            for state in states:
                copy.write_row(state)
        vacuum_analyze(cursor, ("profiles_profile", "consent_consentevent", "consent_consentstate"))


# --- The worker (a child process per run) ---------------------------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# (label, file ending, function): where a mail's time goes, from the profile's cumulative
# times (they overlap where one calls another, e.g. SQL inside the permission check).
BREAKDOWN = [
    (
        "Jinja2: compile the template parts (Environment.from_string)",
        "jinja2/environment.py",
        "from_string",
    ),
    ("Jinja2: render (Template.render)", "jinja2/environment.py", "render"),
    ("CSS inlining (css_inline)", "~", "<method 'inline' of"),
    (
        "footer: Django templates (render_to_string)",
        "django/template/loader.py",
        "render_to_string",
    ),
    ("signed links (signing.dumps)", "django/core/signing.py", "dumps"),
    ("URL reversing (reverse)", "django/urls/base.py", "reverse"),
    ("SQL: Django cursor execute (round trips)", "django/db/backends/utils.py", "execute"),
    ("MIME message (EmailMessage.message)", "django/core/mail/message.py", "message"),
    ("SMTP (smtplib.SMTP.sendmail)", "smtplib.py", "sendmail"),
]


def breakdown(stats: Any) -> list[dict[str, Any]]:
    total = stats.total_tt
    rows = []
    for label, path, func in BREAKDOWN:
        seconds = cumulative_seconds(stats, path, func)
        rows.append(
            {
                "what": label,
                "seconds": round(seconds, 3),
                "share": round(seconds / total, 3) if total else 0,
            }
        )
    return rows


def worker(now: dt.datetime, profile_to: Path | None) -> dict[str, Any]:
    """One worker: `sends_send_due(now=…)` until nothing is due. Runs in a fresh process
    (Django set up, nothing else done), so its peak RSS is the run's own."""
    from django.db import connection

    from campaigns.sending import sends_send_due

    connection.ensure_connection()
    rss_start = _rss_kb()
    run = measure(lambda: sends_send_due(now=now), profile=bool(profile_to))
    statements = run.statements
    result: dict[str, Any] = {
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "counts": run.result,
        "rss_start_kb": rss_start,
        "rss_end_kb": _rss_kb(),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "statements": statements.count,
        "statements_by_kind": dict(statements.by_kind),
        "execute_seconds": statements.seconds,
    }
    if run.profiler and profile_to:
        import pstats

        profile_to.parent.mkdir(exist_ok=True)
        run.profiler.dump_stats(profile_to)
        stats = pstats.Stats(run.profiler)
        result["top_tottime"] = top(stats, "tottime", 30)
        result["top_cumulative"] = top(stats, "cumulative", 80)
        result["breakdown"] = breakdown(stats)
    return result


def worker_run(cohort: Cohort, profile_to: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.sending", "--worker", cohort.now.isoformat()]
    if profile_to:
        command += ["--worker-profile", str(profile_to)]
    proc = subprocess.run(  # noqa: S603 - our own module
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the worker for {cohort.name} failed (exit {proc.returncode})")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- The smtplib baseline ----------------------------------------------------------------------


def messages_render(cohort: Cohort) -> tuple[list[tuple[str, list[str], bytes]], float, float]:
    """The cohort's welcome mails as the engine builds them: ((from, to, bytes), …), and the
    seconds spent rendering (`render`) and building the MIME bytes."""
    from django.conf import settings
    from django.core.mail.message import sanitize_address

    from campaigns.models import Send
    from campaigns.rendering import render, template_for
    from campaigns.sending import mail_build

    sends = list(
        Send.objects.filter(campaign__key="welcome", profile_id__in=cohort.ids)
        .select_related("campaign__topic", "profile")
        .prefetch_related("campaign__templates")
        .order_by("id")
    )
    render_seconds = build_seconds = 0.0
    out = []
    for send in sends:
        start = time.perf_counter()
        template = template_for(send.campaign, send.profile.language)
        assert template is not None
        rendered = render(template, send.profile, send.campaign, {})
        middle = time.perf_counter()
        message = mail_build(send, rendered)  # as the engine builds it
        encoding = message.encoding or settings.DEFAULT_CHARSET
        out.append(
            (
                sanitize_address(message.from_email, encoding),
                [sanitize_address(a, encoding) for a in message.recipients()],
                message.message().as_bytes(linesep="\r\n"),  # type: ignore[call-arg]
            )
        )
        end = time.perf_counter()
        render_seconds += middle - start
        build_seconds += end - middle
    return out, render_seconds, build_seconds


def smtplib_send(port: int, messages: list[tuple[str, list[str], bytes]]) -> float:
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, recipients, data in messages:
            smtp.sendmail(sender, recipients, data)
    return time.perf_counter() - start


# --- Checks -----------------------------------------------------------------------------------


def cohort_check(
    failures: list[str], cohort: Cohort, result: dict[str, Any], server: dict[str, int]
) -> None:
    from django.db.models import Count, Q

    from campaigns.models import Delivery, Send, SendStatus

    label = f"{cohort.name} ({cohort.size:,} mails)"
    counts = result["counts"]
    if counts != {"sent": cohort.size}:
        failures.append(f"{label}: sends_send_due reported {counts}, not {{'sent': {cohort.size}}}")
    if (
        server["messages"] != cohort.size
        or server["recipients"] != cohort.size
        or server["duplicates"]
    ):
        failures.append(f"{label}: the SMTP server got {server}")
    sends = Send.objects.filter(profile_id__in=cohort.ids).aggregate(
        total=Count("id"), sent=Count("id", filter=Q(status=SendStatus.SENT))
    )
    if sends != {"total": cohort.size, "sent": cohort.size}:
        failures.append(f"{label}: sends in the table {sends}")
    deliveries = Delivery.objects.filter(profile_id__in=cohort.ids)
    n = deliveries.count()
    distinct = deliveries.values("profile_id").distinct().count()
    if n != cohort.size or distinct != cohort.size:
        failures.append(f"{label}: {n:,} deliveries for {distinct:,} customers")


# --- Output -----------------------------------------------------------------------------------


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def report_print(meta: dict[str, Any], results: dict[str, Any]) -> None:
    a, b = results["engine"], results["smtplib"]
    print()
    print(
        f"Campaign mail through SMTP (aiosmtpd on 127.0.0.1, discards), one worker process; "
        f"PostgreSQL {meta['postgresql']}, {meta['cpus']} CPUs, load average before "
        f"{meta['loadavg_before']}"
    )
    head = f"{'':52} {'mails':>7} {'seconds':>8} {'mails/s':>8} {'x smtplib':>9}"
    print(head)
    print("-" * len(head))
    print(
        f"{'(a) engine: sends_send_due, one worker':52} "
        f"{a['mails']:7,} {a['seconds']:8.2f} {a['mails_per_second']:8.1f} {a['ratio_to_smtplib']:9.1f}"
    )
    print(
        f"{'(b) smtplib, pre-rendered, one connection':52} "
        f"{b['mails']:7,} {b['seconds']:8.2f} {b['mails_per_second']:8.1f} {1.0:9.1f}"
    )
    print(
        f"{'    rendering them first (render + MIME; not in b)':52} "
        f"{b['mails']:7,} {b['render_seconds'] + b['build_seconds']:8.2f} "
        f"{b['mails'] / (b['render_seconds'] + b['build_seconds']):8.1f}"
    )
    print()
    kinds = ", ".join(
        f"{k} {v / a['mails']:.1f}" for k, v in sorted(a["statements_by_kind"].items())
    )
    print(
        f"(a) per mail: {a['ms_per_mail']:.2f} ms wall, {a['cpu_ms_per_mail']:.2f} ms CPU in the "
        f"worker, {a['statements_per_mail']:.1f} SQL statements ({a['execute_ms_per_mail']:.2f} ms "
        f"in execute); by kind: {kinds}"
    )
    print(
        f"(b) per mail: render {1000 * b['render_seconds'] / b['mails']:.2f} ms + MIME "
        f"{1000 * b['build_seconds'] / b['mails']:.2f} ms + SMTP {1000 * b['seconds'] / b['mails']:.2f} ms"
    )
    print()
    print("(c) memory of the worker process (fresh process per run):")
    for m in results["memory"]:
        print(
            f"    {m['mails']:7,} mails: RSS at start {m['rss_start_mb']:6.1f} MB, peak "
            f"{m['peak_rss_mb']:6.1f} MB (+{m['growth_mb']:.1f} MB during the run), "
            f"{m['mails_per_second']:.1f} mails/s"
        )
    print(f"    {results['memory_verdict']}")
    if results.get("profile"):
        p = results["profile"]
        print()
        print(
            f"cProfile of the engine on {p['mails']:,} more mails ({p['mails_per_second']:.1f} mails/s "
            f"under the profiler; saved to bench/results/sending.prof). Top by own time:"
        )
        for row in p["top_tottime"][:20]:
            print(
                f"  {row['tottime_share']:6.1%} {row['tottime']:7.2f} s {row['calls']:>8} {row['function']}"
            )
        print("Where the time goes (cumulative, overlapping):")
        for row in p["breakdown"]:
            print(f"  {row['share']:6.1%} {row['seconds']:7.2f} s  {row['what']}")
        print("Project functions by cumulative time:")
        own = [r for r in p["top_cumulative"] if r["function"].startswith(PROJECT_DIRS)]
        for row in own[:25]:
            print(
                f"  {row['cumtime_share']:6.1%} {row['cumtime']:7.2f} s {row['calls']:>8} {row['function']}"
            )
    print()
    verdict = "met" if a["mails_per_second"] >= TARGET_MAILS_PER_SECOND else "NOT met"
    print(
        f"Target: at least {TARGET_MAILS_PER_SECOND:.0f} mails/s per worker: {verdict} "
        f"({a['mails_per_second']:.1f} mails/s)."
    )


# --- Main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("sending", __doc__)
    parser.add_argument(
        "--mails", type=int, default=5_000, help="mails in the measured run (5,000)"
    )
    parser.add_argument(
        "--small-mails",
        type=int,
        default=1_000,
        help="the smaller run for the memory figure (1,000)",
    )
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="cProfile a further run (auto: when (a) misses the target)",
    )
    parser.add_argument(
        "--profile-mails", type=int, default=1_000, help="mails in the profiled run"
    )
    parser.add_argument("--seed", type=int, default=20251123)
    keep_db_options(parser)
    parser.add_argument(
        "--worker", help=argparse.SUPPRESS
    )  # internal: run one worker at this clock
    parser.add_argument("--worker-profile", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        django_setup(os.environ["DATABASE_URL"])
        result = worker(
            dt.datetime.fromisoformat(args.worker),
            Path(args.worker_profile) if args.worker_profile else None,
        )
        print(json.dumps(result, default=str))
        return 0

    url = database_url("_sending")
    lock = run_lock(url)  # noqa: F841 - held until the process ends
    sizes = [("small", args.small_mails), ("main", args.mails), ("profiled", args.profile_mails)]
    cohorts, first = [], BACKGROUND_PROFILES + 1
    for i, (label, size) in enumerate(sizes):
        cohorts.append(Cohort(label, first, size, BASE + dt.timedelta(days=2 * i)))
        first += size
    small, main_cohort, profiled = cohorts

    print("Starting the SMTP server …", file=sys.stderr)
    failures: list[str] = []
    results: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {}
    with smtp_start() as server, database_fresh(url, keep=args.keep_db):
        os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{server.port}"
        os.environ["ANYMAIL_ESP"] = ""  # a developer's ESP must not get these mails
        django_setup(url)  # sets DATABASE_URL for the workers too
        from django.conf import settings

        from campaigns.triggers import sends_schedule

        assert settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
        migrate()
        print(
            f"Generating {BACKGROUND_PROFILES:,} background customers and cohorts of "
            f"{', '.join(f'{c.size:,}' for c in cohorts)} …",
            file=sys.stderr,
        )
        data_generate(url, cohorts, BACKGROUND_PROFILES, args.seed)
        loadavg_before = loadavg()

        def engine(cohort: Cohort, profile_to: Path | None = None) -> dict[str, Any]:
            scheduled = sends_schedule(now=cohort.now)
            if scheduled.get("welcome") != cohort.size or sum(scheduled.values()) != cohort.size:
                failures.append(f"{cohort.name}: sends_schedule made {scheduled}")
            server.reset()
            print(f"(a) engine, {cohort.name}: {cohort.size:,} mails …", file=sys.stderr)
            result = worker_run(cohort, profile_to)
            cohort_check(failures, cohort, result, server.count())
            return result

        runs["small"] = engine(small)
        runs["main"] = engine(main_cohort)

        print("(b) rendering, then smtplib …", file=sys.stderr)
        messages, render_seconds, build_seconds = messages_render(main_cohort)
        server.reset()
        smtp_seconds = smtplib_send(server.port, messages)
        got = server.count()
        if got["messages"] != len(messages) or got["duplicates"]:
            failures.append(f"smtplib baseline: the SMTP server got {got} for {len(messages):,}")
        mean_bytes = round(got["bytes"] / max(1, got["messages"]))

        a = runs["main"]
        mails = a["counts"].get("sent", 0)
        smtplib_rate = len(messages) / smtp_seconds
        engine_rate = mails / a["seconds"]
        results["engine"] = {
            "mails": mails,
            "seconds": round(a["seconds"], 3),
            "mails_per_second": round(engine_rate, 1),
            "ratio_to_smtplib": round(smtplib_rate / engine_rate, 1),
            "ms_per_mail": 1000 * a["seconds"] / mails,
            "cpu_ms_per_mail": 1000 * a["cpu_seconds"] / mails,
            "statements_per_mail": a["statements"] / mails,
            "execute_ms_per_mail": 1000 * a["execute_seconds"] / mails,
            "statements_by_kind": a["statements_by_kind"],
        }
        results["smtplib"] = {
            "mails": len(messages),
            "seconds": round(smtp_seconds, 3),
            "mails_per_second": round(smtplib_rate, 1),
            "render_seconds": round(render_seconds, 3),
            "build_seconds": round(build_seconds, 3),
            "mean_message_bytes": mean_bytes,
        }
        results["memory"] = [
            {
                "mails": runs[key]["counts"].get("sent", 0),
                "rss_start_mb": _mb(runs[key]["rss_start_kb"]),
                "peak_rss_mb": _mb(runs[key]["peak_rss_kb"]),
                "growth_mb": _mb(runs[key]["peak_rss_kb"] - runs[key]["rss_start_kb"]),
                "mails_per_second": round(
                    runs[key]["counts"].get("sent", 0) / runs[key]["seconds"], 1
                ),
            }
            for key in ("small", "main")
        ]
        low, high = results["memory"]
        extra = high["peak_rss_mb"] - low["peak_rss_mb"]
        results["memory_verdict"] = (
            f"{high['mails'] / max(1, low['mails']):.0f}x the audience: peak RSS "
            f"{'+' if extra >= 0 else ''}{extra:.1f} MB "
            + (
                "(flat: does not grow with the audience)"
                if extra < 10
                else "(GROWS with the audience)"
            )
        )
        if args.profile == "always" or (
            args.profile == "auto" and engine_rate < TARGET_MAILS_PER_SECOND
        ):
            p = engine(profiled, RESULTS / "sending.prof")
            results["profile"] = {
                "mails": p["counts"].get("sent", 0),
                "mails_per_second": p["counts"].get("sent", 0) / p["seconds"],
                "top_tottime": p["top_tottime"],
                "top_cumulative": p["top_cumulative"],
                "breakdown": p["breakdown"],
            }
        postgresql = server_version()

    meta = {
        "postgresql": postgresql,
        **run_meta(),
        "target_mails_per_second": TARGET_MAILS_PER_SECOND,
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg(),
        "background_profiles": BACKGROUND_PROFILES,
    }
    report_print(meta, results)
    return results_finish(
        "sending", {**meta, **results, "runs": runs, "checks_failed": failures}, failures
    )


if __name__ == "__main__":
    run_as_script(main)
