"""python -m chaos [scenario ...] [--mails N] [--smtp-mails N] [--reuse-build]

Builds the product once (deploy/build.sh, as `make e2e` does), starts a PostgreSQL and a
Redis of the run's own, runs each scenario on a fresh deployed product, prints each
one's figures and a summary, writes them to chaos/results/<time>.json, and exits 1 when
a scenario missed its target. See chaos/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from e2e.stack import ROOT, Stack

from .harness import dumps
from .scenarios import SCENARIOS
from .servers import Postgres, Redis

SIZES = {"smtp-faults": "smtp_mails", "load-while-sending": "mails"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[])
    parser.add_argument("--mails", type=int, default=10_000, help="due mails per mail scenario")
    parser.add_argument("--smtp-mails", type=int, default=2_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "chaos")
    parser.add_argument("--reuse-build", action="store_true", help="skip deploy/build.sh")
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(SCENARIOS)

    workdir: Path = args.workdir.resolve()
    stack_dir = workdir / "stack"
    started = time.monotonic()
    if not (args.reuse_build and (stack_dir / "venv").exists()):
        print("building with deploy/build.sh …", flush=True)
        Stack(workdir=stack_dir).build()
    postgres, redis = Postgres(workdir / "postgres"), Redis(workdir / "redis")
    shutil.rmtree(postgres.root, ignore_errors=True)
    shutil.rmtree(redis.root, ignore_errors=True)
    postgres.start()
    redis.start()
    os.environ["E2E_POSTGRES_URL"] = postgres.url
    os.environ["E2E_REDIS_URL"] = redis.url
    results: dict[str, dict] = {}
    try:
        for name in chosen:
            print(f"\n== {name}: {(SCENARIOS[name].__doc__ or name).splitlines()[0]}", flush=True)
            began = time.monotonic()
            size = getattr(args, SIZES.get(name, "mails"))
            try:
                figures = SCENARIOS[name](stack_dir, (postgres, redis), size)
            except Exception:  # noqa: BLE001 - reported as a missed target, the run goes on
                figures = {"error": traceback.format_exc(), "met": False}
            figures["took_s"] = round(time.monotonic() - began)
            results[name] = figures
            print(dumps(figures), flush=True)
            if redis.process is None or redis.process.poll() is not None:
                redis.start()  # a scenario that failed while Redis was away
    finally:
        postgres.remove()
        redis.remove()

    print("\nscenario                    met   took")
    for name, figures in results.items():
        print(f"{name:<27} {'yes' if figures.get('met') else 'NO':<5} {figures['took_s']:>4} s")
    print(f"total {time.monotonic() - started:.0f} s; logs of each scenario: {stack_dir}/logs-*")
    out = ROOT / "chaos" / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(f.get("met") for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
