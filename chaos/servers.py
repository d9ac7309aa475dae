"""The backing services a fault run may break: a PostgreSQL cluster and a Redis server of
the run's own, on free ports, so that killing or restarting them touches nothing else on
the machine (not the development database, not another test run's Redis).

Redis runs as docker-compose.yml runs it (`--appendonly yes`: a restart keeps the queue);
PostgreSQL as initdb makes it, with fsync on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import redis

from e2e.stack import free_port


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise SystemExit("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Postgres:
    """A throwaway cluster: `start`, `restart` (pg_ctl's fast mode: every connection cut,
    as `pg_ctlcluster … restart` does), `crash` (immediate mode: no shutdown checkpoint,
    recovery from the WAL on start), `stop`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self.bin = _postgres_bin()
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - PostgreSQL's own tools
            [*_as_postgres(), *args], capture_output=True, text=True, check=check, timeout=120
        )

    def start(self) -> None:
        if not self.data.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self.data.mkdir()
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
                shutil.chown(self.data, "postgres")
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
            )  # fmt: skip
        self._pg_ctl("start", "-w", "-l", str(self.log))
        self.wait()

    def _pg_ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, *args)

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast", "-w", "-l", str(self.log))
        self.wait()

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "stop", "-m", mode, "-w",
                      check=False)  # fmt: skip

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(f"{self.url}/postgres", connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A throwaway Redis server: `start`, `kill` (SIGKILL: what the OOM killer or a lost
    container does), `start` again on the same port and data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - redis-server, as compose runs it
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.root),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--databases",
                "16",
            ],  # fmt: skip
            stdout=(self.root / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
