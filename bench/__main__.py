"""`python -m bench` runs every benchmark; `python -m bench import` runs one by name.

Options after the names go to the benchmark(s), e.g. `python -m bench import --rows 20000`.
Each benchmark runs in its own process, so each can set up Django its own way.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from bench import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks (all of them when no name is given).",
        epilog="Other options are passed to each benchmark; see python -m bench.<module> --help.",
    )
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args, rest = parser.parse_known_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:12} {module}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    status = 0
    for name in args.names or list(BENCHMARKS):
        print(f"== bench {name} ==", flush=True)
        proc = subprocess.run(  # noqa: S603 - our own modules
            [sys.executable, "-m", BENCHMARKS[name], *rest], cwd=ROOT, check=False
        )
        if proc.returncode:
            print(f"== bench {name} FAILED (exit {proc.returncode}) ==", file=sys.stderr)
            status = status or proc.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
