"""Klantbeeld as it is deployed, started on this machine for the end-to-end check.

The product is built by `deploy/build.sh` (the Dockerfile's build) into a fresh directory
and virtual environment, and started the way `docker-compose.yml` starts it: the
environment of its `x-app-env` filled in from `.env.example` as a new user fills it in,
and the `command` of its `web`, `worker` and `beat` services, in that order (the worker
and beat wait for a healthy web, which runs the migrations). Only the backing services
differ: this machine's PostgreSQL and Redis instead of compose's, a fresh database and a
Redis database of their own, and an aiosmtpd server in this process as the mail server.

Nothing here imports Klantbeeld: the check talks to it only from outside.
"""

from __future__ import annotations

import email
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests
import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
SLOTS = 8  # checks that can run at once on one machine: Redis databases 8-15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what: str, check: Callable[[], object], timeout: float, every: float = 0.25):
    """check()'s first truthy answer, or an AssertionError naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


class Http(requests.Session):
    """requests with a timeout on every call (a hung server fails the check, never stalls
    it) and, unless told, no cookies: each request as from a fresh mail client."""

    def __init__(self, *, keep_cookies: bool = False) -> None:
        super().__init__()
        if not keep_cookies:
            self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def request(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", 30)
        return super().request(*args, **kwargs)


# --- the mail server ---------------------------------------------------------------------


class Mailbox:
    """What the SMTP server received, parsed, in order of arrival."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def wait_for(
        self, address: str, *, count: int, timeout: float, what: str = "mail"
    ) -> EmailMessage:
        """The `count`-th message to `address` (1-based), waiting for it to arrive."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.to(address)) >= count, timeout)
        if not arrived:
            subjects = [str(m["Subject"]) for m in self.to(address)]
            raise AssertionError(
                f"{what} for {address} did not arrive within {timeout:.0f} s; it has {subjects}"
            )
        return self.to(address)[count - 1]


# --- Docker's build context ---------------------------------------------------------------


def _dockerignore_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match, plus **) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore() -> Callable[[str], bool]:
    """Whether .dockerignore keeps a path out of the build context: the last pattern that
    matches the path or one of its folders decides; "!" lets a path back in."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _dockerignore_pattern(line.lstrip("!").strip("/"))))

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        verdict = False
        for keep, pattern in rules:
            if any(pattern.fullmatch(prefix) for prefix in prefixes):
                verdict = not keep
        return verdict

    return ignored


# --- compose's environment -----------------------------------------------------------------

_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, $$."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        value = values.get(name)
        if operator in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if operator and operator.endswith("?"):
            raise AssertionError(f"compose refuses to start: {name}: {argument}")
        return argument or ""

    return _VARIABLE.sub(one, text)


def env_example() -> dict[str, str]:
    """The variables of .env.example, as `cp .env.example .env` gives them to compose."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match[1]] = match[2]
    return values


def compose_file() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_command(service: dict, values: dict[str, str]) -> list[str]:
    """A service's command as compose runs it: interpolated, a string through a shell."""
    command = service["command"]
    if isinstance(command, str):
        command = ["sh", "-c", command]
    return [interpolate(part, values) for part in command]


def healthcheck_command(service: dict, values: dict[str, str]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, *rest = (interpolate(part, values) for part in test)
    return ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest


# --- the stack -----------------------------------------------------------------------------


@dataclass
class Stack:
    """The running product, and what the check needs to drive it."""

    workdir: Path
    base_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    mailbox: Mailbox = field(default_factory=Mailbox)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    write_key: str = ""
    admin_token: str = ""
    webhook_secret: str = ""
    dotenv: dict[str, str] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    smtp_port: int = 0
    database_url: str = ""
    redis_url: str = ""
    _smtp: Controller | None = None
    _release: Callable[[], object] = lambda: None
    _started: dict[str, float] = field(default_factory=dict)

    @property
    def app(self) -> Path:
        return self.workdir / "app"

    @property
    def venv(self) -> Path:
        return self.workdir / "venv"

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- phases, each timed --------------------------------------------------------------

    def timed(self, name: str, func: Callable[[], object]) -> None:
        started = time.monotonic()
        func()
        self.timings.append((name, time.monotonic() - started))

    def build(self) -> None:
        """A copy of the source as Docker's build context has it, and deploy/build.sh."""
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "logs").mkdir(parents=True)
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        ignored = dockerignore()
        for name in map(os.fsdecode, filter(None, listed)):
            source = ROOT / name
            # A file deleted in the work tree, or one .dockerignore keeps out, is not in
            # Docker's build context.
            if source.is_file() and not ignored(name):
                target = self.app / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        # The build sees PATH, HOME (pip's cache and configuration) and pip's own settings.
        build_env = {
            name: value
            for name, value in os.environ.items()
            if name in ("PATH", "HOME") or name.startswith("PIP_")
        }
        with self.log("build").open("w") as log:
            result = subprocess.run(
                [str(self.app / "deploy" / "build.sh"), str(self.venv)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=build_env,
                check=False,
                timeout=900,
            )
        if result.returncode != 0:
            raise AssertionError(
                f"deploy/build.sh failed ({result.returncode}):\n{self.log('build').read_text()}"
            )

    def backing_services(self) -> None:
        """A fresh database and an empty Redis database of this run's own, and the SMTP
        server. A slot (0-7) claimed on Redis keeps two checks on one machine apart."""
        postgres = os.environ.get("E2E_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
        server = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379")
        claims = redis.Redis.from_url(f"{server}/0")
        for slot in range(SLOTS):
            key = f"klantbeeld:e2e:slot:{slot}"
            if claims.set(key, os.getpid(), nx=True, ex=3600):
                self._release = lambda key=key: claims.delete(key)
                break
        else:
            raise AssertionError(f"all {SLOTS} end-to-end slots are taken on {server}")
        self.database_url = f"{postgres}/klantbeeld_e2e_{slot}"
        self.redis_url = f"{server}/{8 + slot}"
        with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS klantbeeld_e2e_{slot} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE klantbeeld_e2e_{slot}")
        redis.Redis.from_url(self.redis_url).flushdb()
        self.smtp_port = free_port()
        self._smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()

    def environment(self) -> None:
        """Each app service's environment in docker-compose.yml, filled in from
        .env.example as a new user fills it in; `env` is web's (`docker compose exec web`)."""
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.webhook_secret = f"esp:{secrets.token_urlsafe(16)}"
        dotenv = env_example()
        # What README's production section tells a new user to set in .env.
        dotenv.update(
            SECRET_KEY=secrets.token_urlsafe(50),
            SUPPRESSION_HASH_KEY=secrets.token_urlsafe(50),
            SITE_URL=self.base_url,
            ALLOWED_HOSTS="127.0.0.1",
            EMAIL_URL=f"smtp://127.0.0.1:{self.smtp_port}",
            ANYMAIL_WEBHOOK_SECRET=self.webhook_secret,
            SHOP_NAME="Winkel van Morgen B.V.",
            SHOP_URL="https://winkel.example.nl",
        )
        self.dotenv = dotenv
        # What the image's ENV and a container of its own give every process.
        container = {
            "PATH": f"{self.venv / 'bin'}:{os.environ['PATH']}",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "HOSTNAME": socket.gethostname(),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "ENV_FILE": "",
            "PORT": str(port),
            # A container's 0.0.0.0 is its own network; on this machine, loopback only.
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        }
        services = compose_file()["services"]
        for name in APP_SERVICES:
            service_env = {
                key: interpolate(str(value), dotenv)
                for key, value in services[name]["environment"].items()
            }
            # compose's backing services, by their host names, become this machine's.
            hosts = (
                urlsplit(service_env["DATABASE_URL"]).hostname,
                urlsplit(service_env["REDIS_URL"]).hostname,
            )
            if hosts != ("postgres", "redis"):
                raise AssertionError(f"compose's {name} does not use its postgres and redis")
            service_env["DATABASE_URL"] = self.database_url
            service_env["REDIS_URL"] = self.redis_url
            self.envs[name] = {**container, **service_env}
        self.env = self.envs["web"]

    def start(self) -> None:
        """web (migrations, then gunicorn), then the worker and beat once web is healthy."""
        services = compose_file()["services"]
        self._spawn("web", compose_command(services["web"], self.dotenv))
        wait_until("web answers its health check", lambda: self._healthy("web"), timeout=180)
        self.timings.append(("migrate and start web", time.monotonic() - self._started["web"]))
        self._spawn("worker", compose_command(services["worker"], self.dotenv))
        self._spawn("beat", compose_command(services["beat"], self.dotenv))
        wait_until(
            "the worker answers its health check (celery inspect ping)",
            lambda: self._healthy("worker"),
            timeout=120,
            every=1,
        )
        wait_until(
            "beat starts",
            lambda: "beat: Starting" in self.log("beat").read_text(errors="replace"),
            timeout=60,
        )
        self.timings.append(("start worker and beat", time.monotonic() - self._started["worker"]))

    def keys(self) -> None:
        """A write key and an admin token, as the README has an operator make them."""
        self.write_key = self.manage("create_api_key", "e2e webshop", "--kind", "write")
        self.admin_token = self.manage("create_api_key", "e2e backend", "--kind", "admin")
        self.write_key = self.write_key.splitlines()[-1].strip()
        self.admin_token = self.admin_token.splitlines()[-1].strip()

    def kill(self, name: str) -> None:
        """SIGKILL to a service's process group: its master and its children, no clean-up
        (what the OOM killer or a lost machine does)."""
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def respawn(self, name: str) -> None:
        """A service started again with its compose command, as compose's restart policy
        starts a container that died."""
        self._spawn(name, compose_command(compose_file()["services"][name], self.dotenv))

    # -- helpers ---------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> None:
        log = self.log(name).open("ab")
        self._started[name] = time.monotonic()
        self.processes[name] = subprocess.Popen(
            command,
            cwd=self.app,
            env=self.envs[name],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )

    def _healthy(self, name: str) -> bool:
        """compose's health check of the service, run as compose runs it."""
        for running, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(
                    f"{running} exited with {process.returncode}:\n{self.tail(running)}"
                )
        result = subprocess.run(
            healthcheck_command(compose_file()["services"][name], self.dotenv),
            cwd=self.app,
            env=self.envs[name],
            capture_output=True,
            check=False,
            timeout=60,
        )
        return result.returncode == 0

    def manage(self, *args: str, timeout: float = 300, **extra_env: str) -> str:
        """`python manage.py …` as `docker compose exec web python manage.py …` runs it."""
        result = subprocess.run(
            ["python", "manage.py", *args],
            cwd=self.app,
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        with self.log("manage").open("a") as log:
            log.write(f"$ manage.py {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def tick(self, now) -> dict:
        """`manage.py tick --now …`: every periodic job once, as if the clock read `now`."""
        return json.loads(self.manage("tick", "--now", now.isoformat()))

    def api(self) -> Http:
        """A client of the management API with the admin token."""
        session = Http()
        session.headers["Authorization"] = f"Bearer {self.admin_token}"
        return session

    def tail(self, name: str, lines: int = 60) -> str:
        path = self.log(name)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self, names: Iterator[str] | tuple[str, ...] = APP_SERVICES) -> dict[str, str]:
        return {name: self.log(name).read_text(errors="replace") for name in names}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                self.timings.append((f"{name} did not stop on SIGTERM", 30.0))
        if self._smtp is not None:
            self._smtp.stop()

    def drop_backing_data(self) -> None:
        if self.database_url:
            name = urlsplit(self.database_url).path.lstrip("/")
            maintenance = urlunsplit(urlsplit(self.database_url)._replace(path="/postgres"))
            with psycopg.connect(maintenance, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.redis_url:
            redis.Redis.from_url(self.redis_url).flushdb()

    def release(self) -> None:
        """Give the slot back (a crashed run's claim expires after an hour)."""
        self._release()
