"""Benchmark: importing a 100,000-row customer CSV into PostgreSQL.

Measures, in one run on a freshly created database of its own:

  (a) the first import of the file (every good row is a create),
  (b) a dry run of the same file (run before (a), on the empty table: what a marketer
      does first; all checking, no writes),
  (c) a re-import of the file with ~10% of the rows changed (updates; the rest unchanged),
  (d) the baseline: a raw psycopg COPY of the same rows and columns into an empty copy of
      the profiles table, the fastest the database could take these rows.

Every figure is reported as seconds, rows/s and its ratio to (d); the SQL statements each
import sends are counted (queries per 1,000 rows) to show "one bulk write per chunk".
The target from the issue (under 30 s for (a)) is reported, never asserted; the exit
status is non-zero only when a correctness check fails.

    python -m bench import [--rows N] [--seed S] [--chunk-size N] [--keep-db] [--profile]
"""

import csv
import datetime as dt
import io
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import (
    CITIES,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREETS,
    TIERS,
    ascii_name,
    nl_postal_letters,
)
from bench.db import (
    Statements,
    database_fresh,
    database_url,
    django_setup,
    measure,
    migrate,
    server_version,
)
from bench.report import (
    RESULTS,
    Checks,
    parser_make,
    results_finish,
    run_as_script,
    run_meta,
)

TARGET_SECONDS = 30.0
FILENAME = "bench-klanten.csv"

# --- Test data ------------------------------------------------------------------------

TIMEZONES = {"NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "DE": "Europe/Berlin"}
EXTRA_COLUMN = "loyalty_tier"  # not a profile field: becomes a custom attribute
HEADER = [
    "user_id",
    "email",
    "first_name",
    "last_name",
    "birth_date",
    "phone",
    "street",
    "house_number",
    "postal_code",
    "city",
    "country",
    "language",
    "timezone",
    EXTRA_COLUMN,
]
# Columns the COPY baseline writes (the file's columns, the extra one as custom_attributes).
COPY_COLUMNS = [*HEADER[:-1], "custom_attributes"]


@dataclass
class Customer:
    """One generated row: the text in the file and the value the database should hold."""

    user_id: str
    email: str  # as written in the file (sometimes with capitals)
    first_name: str
    last_name: str
    birth_date: dt.date | None
    birth_date_text: str
    phone: str
    street: str
    house_number: str
    postal_code: str  # normalised, as stored ("1234 AB")
    postal_code_text: str  # as written in the file ("1234ab", "1234 AB", …)
    city: str
    country: str
    language: str
    timezone: str
    tier: str
    bad: str = ""  # "email" or "birth_date" for a deliberately bad row

    def csv_row(self) -> list[str]:
        return [
            self.user_id,
            self.email,
            self.first_name,
            self.last_name,
            self.birth_date_text,
            self.phone,
            self.street,
            self.house_number,
            self.postal_code_text,
            self.city,
            self.country,
            self.language,
            self.timezone,
            self.tier,
        ]

    def copy_row(self) -> tuple[Any, ...]:
        attrs = json.dumps({EXTRA_COLUMN: self.tier}) if self.tier else "{}"
        return (
            self.user_id,
            self.email.lower(),
            self.first_name,
            self.last_name,
            self.birth_date,
            self.phone,
            self.street,
            self.house_number,
            self.postal_code,
            self.city,
            self.country,
            self.language,
            self.timezone,
            attrs,
        )


def _postal_code(rng: random.Random, country: str) -> tuple[str, str]:
    """(stored, as written in the file)."""
    if country == "NL":
        digits = str(rng.randint(1000, 9999))
        letters = nl_postal_letters(rng)
        written = rng.choices(
            [f"{digits} {letters}", f"{digits}{letters}", f"{digits} {letters.lower()}"],
            weights=[70, 25, 5],
        )[0]
        return f"{digits} {letters}", written
    code = str(rng.randint(1000, 9999)) if country == "BE" else f"{rng.randint(1067, 99998):05d}"
    return code, code


def _phone(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"06-{rng.randint(10000000, 99999999)}"
    if kind < 0.8:
        return f"+31 6 {rng.randint(10000000, 99999999)}"
    return f"0{rng.randint(10, 79)} {rng.randint(1000000, 9999999)}"


def _birth_date(rng: random.Random) -> tuple[dt.date | None, str]:
    if rng.random() < 0.10:
        return None, ""
    date = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randint(0, 26_000))  # up to 2006
    if rng.random() < 0.8:
        return date, date.isoformat()
    return date, date.strftime("%d-%m-%Y")  # how Dutch Excel writes it


def customers_generate(rows: int, seed: int) -> list[Customer]:
    """`rows` realistic customers, the same for the same seed; ~1% deliberately bad."""
    rng = random.Random(seed)
    customers = []
    for i in range(rows):
        country = rng.choices(["NL", "BE", "DE"], weights=[92, 5, 3])[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = rng.choice(
            [
                f"{ascii_name(first)}.{ascii_name(last)}",
                f"{ascii_name(first)[0]}{ascii_name(last)}",
                ascii_name(first),
            ]
        )
        email = f"{local}{i}@{rng.choice(DOMAINS)}"  # the row number keeps it unique
        if rng.random() < 0.05:
            email = email.capitalize()  # stored lower-case
        birth_date, birth_text = _birth_date(rng)
        postal, postal_text = _postal_code(rng, country)
        house = str(rng.randint(1, 250))
        if rng.random() < 0.1:
            house += rng.choice(["a", "b", "-1", "-2", " bis", "A"])
        customers.append(
            Customer(
                user_id=str(1_000_000 + i),
                email=email,
                first_name=first,
                last_name=last,
                birth_date=birth_date,
                birth_date_text=birth_text,
                phone=_phone(rng) if rng.random() < 0.8 else "",
                street=rng.choice(STREETS),
                house_number=house,
                postal_code=postal,
                postal_code_text=postal_text,
                city=rng.choice(CITIES[country]),
                country=country,
                language="nl" if country != "DE" and rng.random() < 0.88 else "en",
                timezone=TIMEZONES[country],
                tier=rng.choice(TIERS) if rng.random() < 0.6 else "",
            )
        )
    # ~1% bad rows, each with exactly one bad field: half a bad address, half a birth
    # date in the future (2030 or later, so the file stays bad whatever day it runs).
    for n, i in enumerate(sorted(rng.sample(range(rows), rows // 100))):
        c = customers[i]
        if n % 2 == 0:
            c.bad = "email"
            local = c.email.split("@")[0]
            c.email = rng.choice(
                [
                    f"{local}(at)ziggo.nl",
                    f"{local}@",
                    f"{local}@@gmail.com",
                    f"{local}.gmail.com",
                    f"{local} @x.nl",
                ]
            )
        else:
            c.bad = "birth_date"
            c.birth_date = dt.date(2030, 1, 1) + dt.timedelta(days=rng.randint(0, 20_000))
            c.birth_date_text = c.birth_date.isoformat()
    return customers


def customers_change(customers: list[Customer], seed: int, share: float = 0.10) -> list[int]:
    """Change one realistic thing for `share` of the good rows, in place; their indices."""
    rng = random.Random(seed + 1)
    good = [i for i, c in enumerate(customers) if not c.bad]
    changed = sorted(rng.sample(good, round(len(customers) * share)))
    for i in changed:
        c = customers[i]
        kind = rng.random()
        if kind < 0.4:  # moved house
            c.street = rng.choice([s for s in STREETS if s != c.street])
            c.house_number = str(rng.randint(251, 400))  # never the old number
            while True:
                postal, text = _postal_code(rng, c.country)
                if postal != c.postal_code:
                    break
            c.postal_code, c.postal_code_text = postal, text
            c.city = rng.choice([x for x in CITIES[c.country] if x != c.city] or [c.city])
        elif kind < 0.7:  # new phone number
            old = c.phone
            while c.phone == old:
                c.phone = _phone(rng)
        elif kind < 0.9:  # other loyalty tier
            c.tier = rng.choice([t for t in TIERS if t != c.tier])
        else:  # married, new name
            c.last_name = rng.choice([n for n in LAST_NAMES if n != c.last_name])
    return changed


def csv_bytes(customers: list[Customer]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(c.csv_row() for c in customers)
    return out.getvalue().encode()


# --- Measurements -----------------------------------------------------------------------


def copy_baseline(
    url: str, customers: list[Customer], *, indexed: bool, repeat: int = 3
) -> list[float]:
    """Seconds of `repeat` raw COPYs of the rows into an empty copy of the profiles table."""
    import psycopg

    rows = [c.copy_row() for c in customers]  # prepared before the clock starts
    table = "bench_copy_indexed" if indexed else "bench_copy_plain"
    like = "INCLUDING ALL" if indexed else "INCLUDING DEFAULTS INCLUDING IDENTITY"
    columns = ", ".join(COPY_COLUMNS)
    times = []
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE profiles_profile {like})")
        # Django keeps defaults in Python; give the columns the file has no value for the
        # values an import would store, so COPY can leave them out.
        for column, default in [
            ("created_at", "now()"),
            ("updated_at", "now()"),
            ("lifecycle_stage", "'prospect'"),
            ("acquisition_source", "''"),
            ("order_count", "0"),
            ("total_spent", "0"),
            ("public_id", "gen_random_uuid()"),
        ]:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}")
        conn.commit()
        for _ in range(repeat):
            conn.execute(f"TRUNCATE {table}")
            conn.commit()
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            times.append(time.perf_counter() - start)
        stored = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        count = stored[0] if stored else 0
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    if count != len(rows):
        raise SystemExit(f"COPY baseline stored {count} rows, not {len(rows)}")
    return times


@dataclass
class Run:
    label: str
    seconds: float
    statements: Statements
    report: Any


def import_measure(
    label: str, content: bytes, *, dry_run: bool, chunk_size: int, profile_to: Path | None = None
) -> Run:
    from profiles.importing import profiles_import

    def progress(done: int, total: int, report: Any) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r  {label}: {done:,}/{total:,} rows")
            sys.stderr.flush()

    run = measure(
        lambda: profiles_import(
            content=content,
            filename=FILENAME,
            dry_run=dry_run,
            chunk_size=chunk_size,
            progress=progress,
        ),
        profile=bool(profile_to),
    )
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if run.profiler and profile_to:
        import pstats

        profile_to.parent.mkdir(exist_ok=True)
        run.profiler.dump_stats(profile_to)
        print(f"\ncProfile of {label} (slower than unprofiled; saved to {profile_to}):")
        pstats.Stats(run.profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    return Run(label, run.seconds, run.statements, run.result)


# --- Checks -----------------------------------------------------------------------------


def report_check(
    checks: Checks,
    run: Run,
    customers: list[Customer],
    *,
    created: int,
    updated: int,
    unchanged: int,
) -> None:
    from profiles.importing import MAX_ERRORS_KEPT

    r = run.report
    bad = [i for i, c in enumerate(customers) if c.bad]
    checks.equal(f"{run.label}: rows read", r.rows, len(customers))
    checks.equal(f"{run.label}: created", r.created, created)
    checks.equal(f"{run.label}: updated", r.updated, updated)
    checks.equal(f"{run.label}: unchanged", r.unchanged, unchanged)
    checks.equal(f"{run.label}: refused", r.error_count, len(bad))
    if len(bad) <= MAX_ERRORS_KEPT:
        expected = sorted((i + 2, customers[i].bad) for i in bad)  # the header is row 1
        checks.equal(
            f"{run.label}: refused rows and fields",
            sorted((e.row, e.field) for e in r.errors),
            expected,
        )


def database_check(
    checks: Checks, label: str, customers: list[Customer], sample: list[int], *, updates: int
) -> None:
    """The profiles table holds the good rows (the sample compared value by value) and
    the history one creation per good row plus one change per updated row."""
    from django.db.models import Count, Q

    from profiles.models import Profile, ProfileChange

    good = sum(1 for c in customers if not c.bad)
    checks.equal(f"{label}: profiles in the database", Profile.objects.count(), good)
    history = ProfileChange.objects.aggregate(
        n_created=Count("pk", filter=Q(created=True, source="import", note=FILENAME)),
        n_updated=Count("pk", filter=Q(created=False, source="import", note=FILENAME)),
        n_other=Count("pk", filter=~Q(source="import", note=FILENAME)),
    )
    checks.equal(
        f"{label}: history rows (created, updated, other)",
        (history["n_created"], history["n_updated"], history["n_other"]),
        (good, updates, 0),
    )
    stored = {
        p.user_id: p
        for p in Profile.objects.filter(user_id__in=[customers[i].user_id for i in sample])
    }
    for i in sample:
        c, p = customers[i], stored.get(customers[i].user_id)
        if c.bad:
            checks.equal(f"{label}: bad row {i + 2} stored", p is not None, False)
            continue
        if p is None:
            checks.failures.append(f"{label}: row {i + 2} ({c.user_id}) not stored")
            continue
        expected = c.copy_row()
        got = (
            p.user_id,
            p.email,
            p.first_name,
            p.last_name,
            p.birth_date,
            p.phone,
            p.street,
            p.house_number,
            p.postal_code,
            p.city,
            str(p.country),  # the code
            p.language,
            p.timezone,
            json.dumps(p.custom_attributes) if p.custom_attributes else "{}",
        )
        checks.equal(f"{label}: row {i + 2} ({c.user_id})", got, expected)


# --- Output -----------------------------------------------------------------------------


def figure(
    label: str, seconds: float, rows: int, baseline: float, run: Run | None = None, chunks: int = 0
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "label": label,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "ratio_to_copy": round(seconds / baseline, 1),
    }
    if run:
        s = run.statements
        result.update(
            statements=s.count,
            statements_per_1000_rows=round(s.count / (rows / 1000), 2),
            statements_per_chunk=round(s.count / chunks, 1) if chunks else None,
            statements_by_kind=dict(sorted(s.by_kind.items())),
            execute_seconds=round(s.seconds, 3),
            outside_execute_seconds=round(seconds - s.seconds, 3),
            created=run.report.created,
            updated=run.report.updated,
            unchanged=run.report.unchanged,
            refused=run.report.error_count,
        )
    return result


def table_print(meta: dict[str, Any], figures: dict[str, dict[str, Any]]) -> None:
    print()
    print(
        f"Import of {meta['rows']:,} CSV rows ({meta['bad_rows']:,} bad, {meta['changed_rows']:,} "
        f"changed for (c)), chunk size {meta['chunk_size']:,}, PostgreSQL {meta['postgresql']}, "
        f"{meta['cpus']} CPUs"
    )
    head = f"{'':34} {'seconds':>9} {'rows/s':>9} {'x COPY':>7} {'queries':>8} {'q/1k rows':>9} {'execute s':>9}"
    print(head)
    print("-" * len(head))
    for f in figures.values():
        queries = f.get("statements")
        print(
            f"{f['label']:34} {f['seconds']:9.2f} {f['rows_per_second']:9,} {f['ratio_to_copy']:7.1f}"
            + (
                f" {queries:8,} {f['statements_per_1000_rows']:9.2f} {f['execute_seconds']:9.2f}"
                if queries is not None
                else ""
            )
        )
    print()
    for key in ("a", "b", "c"):
        f = figures[key]
        kinds = ", ".join(f"{k} {v}" for k, v in f["statements_by_kind"].items())
        print(f"({key}) statements: {kinds}  ({f['statements_per_chunk']} per chunk)")
    for key in ("d", "d_indexed"):
        samples = figures[key]["samples"]
        print(
            f"{figures[key]['label'].strip()}: median of {len(samples)} runs, "
            f"{min(samples):.2f}–{max(samples):.2f} s"
        )
    print()
    a = figures["a"]
    verdict = "met" if a["seconds"] < TARGET_SECONDS else "NOT met"
    if meta["profiled"]:
        verdict += " (but (a) ran under cProfile, which slows it down)"
    print(
        f"Target: first import of {meta['rows']:,} rows under {TARGET_SECONDS:.0f} s: {verdict} ({a['seconds']:.1f} s)."
    )


# --- Main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("import", __doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="data rows in the file (100,000)")
    parser.add_argument("--seed", type=int, default=20250101, help="seed of the generated file")
    parser.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (the setting)")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the benchmark database afterwards"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the first import (slows it)"
    )
    args = parser.parse_args(argv)

    url = database_url()
    print(f"Generating {args.rows:,} rows (seed {args.seed}) …", file=sys.stderr)
    customers = customers_generate(args.rows, args.seed)
    first_file = csv_bytes(customers)
    checks = Checks()
    good = sum(1 for c in customers if not c.bad)
    sample = sorted(random.Random(args.seed + 2).sample(range(args.rows), min(200, args.rows)))

    with database_fresh(url, keep=args.keep_db):
        django_setup(url)
        from django.conf import settings
        from django.db import connection

        migrate()
        chunk_size = args.chunk_size or settings.PROFILE_IMPORT_CHUNK_SIZE
        chunks = -(-args.rows // chunk_size)
        # The baseline is short, so it is taken several times, before and after the
        # imports; the median of all is the figure (a machine that changes speed during
        # the run shows as a wide spread in the JSON).
        print("(d) COPY baseline …", file=sys.stderr)
        copy_plain = copy_baseline(url, customers, indexed=False)
        copy_indexed = copy_baseline(url, customers, indexed=True)

        print("(b) dry run …", file=sys.stderr)
        dry = import_measure(
            "(b) dry run (empty table)", first_file, dry_run=True, chunk_size=chunk_size
        )
        report_check(checks, dry, customers, created=good, updated=0, unchanged=0)
        from profiles.models import Profile, ProfileChange

        checks.equal("(b): profiles after the dry run", Profile.objects.count(), 0)
        checks.equal("(b): history rows after the dry run", ProfileChange.objects.count(), 0)

        print("(a) first import …", file=sys.stderr)
        first = import_measure(
            "(a) first import (creates)",
            first_file,
            dry_run=False,
            chunk_size=chunk_size,
            profile_to=RESULTS / "import_profiles.prof" if args.profile else None,
        )
        report_check(checks, first, customers, created=good, updated=0, unchanged=0)
        database_check(checks, "(a)", customers, sample, updates=0)

        changed = customers_change(customers, args.seed)
        second_file = csv_bytes(customers)
        with connection.cursor() as cursor:  # a steady-state table, as autovacuum would leave it
            cursor.execute("VACUUM ANALYZE profiles_profile")
            cursor.execute("VACUUM ANALYZE profiles_profilechange")
        print("(c) re-import with changes …", file=sys.stderr)
        again = import_measure(
            "(c) re-import, 10% changed", second_file, dry_run=False, chunk_size=chunk_size
        )
        report_check(
            checks, again, customers, created=0, updated=len(changed), unchanged=good - len(changed)
        )
        database_check(
            checks, "(c)", customers, sorted({*sample, *changed[:200]}), updates=len(changed)
        )
        print("(d) COPY baseline again …", file=sys.stderr)
        copy_plain += copy_baseline(url, customers, indexed=False)
        copy_indexed += copy_baseline(url, customers, indexed=True)
        server = server_version()

    meta = {
        "rows": args.rows,
        "bad_rows": args.rows - good,
        "changed_rows": len(changed),
        "seed": args.seed,
        "chunk_size": chunk_size,
        "chunks": chunks,
        "file_bytes": len(first_file),
        "postgresql": server,
        **run_meta(git_paths=("profiles", "core", "config")),
        "profiled": args.profile,
        "target_seconds": TARGET_SECONDS,
    }
    baseline = statistics.median(copy_plain)
    baseline_indexed = statistics.median(copy_indexed)
    figures = {
        "a": figure(first.label, first.seconds, args.rows, baseline, first, chunks),
        "b": figure(dry.label, dry.seconds, args.rows, baseline, dry, chunks),
        "c": figure(again.label, again.seconds, args.rows, baseline, again, chunks),
        "d": {
            **figure("(d) COPY baseline", baseline, args.rows, baseline),
            "samples": [round(t, 3) for t in copy_plain],
        },
        "d_indexed": {
            **figure("    COPY incl. the table's indexes", baseline_indexed, args.rows, baseline),
            "samples": [round(t, 3) for t in copy_indexed],
        },
    }
    table_print(meta, figures)
    results = {
        **meta,
        "target_met": figures["a"]["seconds"] < TARGET_SECONDS,
        "figures": figures,
        "checks_failed": checks.failures,
    }
    return results_finish("import_profiles", results, checks.failures)


if __name__ == "__main__":
    run_as_script(main)
