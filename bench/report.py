"""The end every benchmark shares: its results as JSON in bench/results/, and the exit
status from its correctness checks (never from its speed)."""

import json
import sys
from pathlib import Path
from typing import Any

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
