"""What every benchmark shares around its measurements: its command line, the timing of
its steps, its correctness checks, the facts about the run (versions, machine, commit),
cProfile summaries, its results as JSON in bench/results/, and the exit status from its
correctness checks (never from its speed)."""

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
# The application's code whose local changes the recorded commit mentions.
APP_DIRS = ("events", "profiles", "consent", "core", "config")

# --- Command line -------------------------------------------------------------------------


def parser_make(name: str, doc: str | None) -> argparse.ArgumentParser:
    """`python -m bench <name>`, described by the first paragraph of the module's doc."""
    return argparse.ArgumentParser(
        prog=f"python -m bench {name}", description=(doc or "").split("\n\n")[0]
    )


def size_options(parser: argparse.ArgumentParser) -> None:
    """--profiles and --events of a shop generated in SQL."""
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles (1,000,000)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events (10,000,000)")


def keep_db_options(parser: argparse.ArgumentParser, reuse_help: str = "") -> None:
    """--keep-db, and --reuse-db (explained by `reuse_help`) where the benchmark has it."""
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database")
    if reuse_help:
        parser.add_argument("--reuse-db", action="store_true", help=reuse_help)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that `finally` drops the database on a kill too


def run_as_script(main: Callable[[], int]) -> NoReturn:
    """`python -m bench.<name>`: a kill (SIGTERM) or Ctrl-C unwinds through the
    benchmark's `finally` (which drops its database) and exits 130."""
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)


# --- Measuring ----------------------------------------------------------------------------


class Steps(dict[str, float]):
    """Seconds of each step of a data load, printed as each ends; a step runs from the
    end of the one before (or from `restart`)."""

    def __init__(self) -> None:
        super().__init__()
        self.restart()

    def restart(self) -> None:
        self.start = time.perf_counter()

    def done(self, name: str) -> None:
        self[name] = round(time.perf_counter() - self.start, 1)
        print(f"  {name}: {self[name]:.1f} s", file=sys.stderr)
        self.restart()


def timed_repeat(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """The seconds of `repeat` calls of `run`, and what the last one returned."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Checks:
    """The correctness checks' failures (which fail the run) and warnings (which do not)."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.warnings: list[str] = []

    def equal(self, what: str, got: Any, expected: Any) -> None:
        if got != expected:
            self.failures.append(f"{what}: got {got!r}, expected {expected!r}")


# --- The run --------------------------------------------------------------------------------


def git_commit(paths: tuple[str, ...] = APP_DIRS) -> str:
    """The commit measured, "+local changes" when `paths` differ from it; in an exported
    tree (no .git) what BENCH_GIT_COMMIT says."""
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        return os.environ.get("BENCH_GIT_COMMIT", "")  # an exported tree says which it is
    try:
        out = subprocess.run(  # noqa: S603
            [git, "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        dirty = subprocess.run(  # noqa: S603
            [git, "status", "--porcelain", "--", *paths],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return out.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "")


def run_meta(git_paths: tuple[str, ...] = APP_DIRS) -> dict[str, Any]:
    """Versions, machine, commit and time of the run, for the results."""
    import django

    return {
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "git": git_commit(git_paths),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def top(stats: Any, key: str, n: int) -> list[dict[str, Any]]:
    """The `n` functions of a pstats.Stats with the most own ("tottime") or cumulative
    time, named file:line(function) relative to the tree or site-packages."""
    rows = []
    total = stats.total_tt
    ordered = sorted(
        stats.stats.items(), key=lambda item: item[1][2 if key == "tottime" else 3], reverse=True
    )
    for (path, line, func), (_cc, nc, tt, ct, _callers) in ordered[:n]:
        short = path.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append(
            {
                "function": f"{short}:{line}({func})",
                "calls": nc,
                "tottime": round(tt, 3),
                "cumtime": round(ct, 3),
                "tottime_share": round(tt / total, 3) if total else 0,
                "cumtime_share": round(ct / total, 3) if total else 0,
            }
        )
    return rows


def cumulative_seconds(stats: Any, path_suffix: str, function: str) -> float:
    """Cumulative seconds of a pstats.Stats's functions named `function` (or, when it
    starts with "<", whose name starts with it: a built-in method) in a file whose path
    ends with `path_suffix`."""
    return sum(
        ct
        for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
        if path.endswith(path_suffix)
        and (name == function or (function.startswith("<") and name.startswith(function)))
    )


def results_finish(name: str, results: dict[str, Any], failures: list[str]) -> int:
    """Write `results` to bench/results/<name>.json and report the checks: 1 when one
    failed (the first 50 are listed), else 0."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"Results written to {path.relative_to(ROOT)}")
    if failures:
        print(f"\nCORRECTNESS CHECKS FAILED ({len(failures)}):", file=sys.stderr)
        for failure in failures[:50]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("Correctness checks passed.")
    return 0
