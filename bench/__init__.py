"""Benchmarks for Klantbeeld, run with `make bench` (`python -m bench`).

Speed is reported as ratios against a baseline measured in the same run, never as a
timed assert in the test suite. Each benchmark is a module with a `main(argv)` that
returns an exit status: non-zero only when the benchmark found the code doing something
wrong (a correctness check), never because it was slow.
"""

# Name on the command line -> module that runs it.
BENCHMARKS: dict[str, str] = {
    "import": "bench.import_profiles",
    "ingest": "bench.ingest",
    "selections": "bench.selections",
    "scheduler": "bench.scheduler",
    "sending": "bench.sending",
    "dashboard": "bench.dashboard",
}
