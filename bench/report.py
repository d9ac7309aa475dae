"""The end every benchmark shares: its results as JSON in bench/results/, and the exit
status from its correctness checks (never from its speed)."""

import contextlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that `finally` drops the database on a kill too


def run_as_script(main: Callable[[], int]) -> NoReturn:
    """`python -m bench.<name>`: a kill (SIGTERM) or Ctrl-C unwinds through the
    benchmark's `finally` (which drops its database) and exits 130."""
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
