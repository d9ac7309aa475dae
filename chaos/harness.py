"""What every fault run needs: the product as deployed (e2e/stack.py: deploy/build.sh,
compose's commands) on a PostgreSQL and a Redis of the run's own (chaos/servers.py), an
SMTP server that counts what it received and can misbehave, customers with a mail due,
shop clients that post events as a Segment library does, and the tallies.

The harness talks to the product as an operator would: HTTP, `celery call`, `manage.py`,
and SQL against the product's database to count (never to change what it does).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import multiprocessing
import random
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from bench.sending import Cohort, data_generate
from e2e.stack import Stack

# Sends a worker has handed to the mail server and not yet recorded: at most one chunk
# per worker process (campaigns/handover.py HANDOVER_CHUNK).
HANDOVER_CHUNK = 10
# The claim lease (campaigns/sending.py CLAIM_LEASE): after it, a dead worker's claims
# are recovered. The harness lets it pass with `manage.py tick --now` rather than waiting.
LEASE = dt.timedelta(minutes=10)


# --- the mail server ---------------------------------------------------------------------------


class MailServer:
    """An aiosmtpd handler: every recipient of every message it took, counted. `policy`,
    when set, answers instead for some messages: (address, attempt) → an SMTP reply such
    as "451 4.3.0 busy", or "drop" (the connection breaks after the message arrived: it
    is counted), or None to take it."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.policy: Callable[[str, int], str | None] | None = None
        self.answered: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self._lock:
            self.attempts[address] += 1
            attempt = self.attempts[address]
        answer = self.policy(address, attempt) if self.policy else None
        if answer and answer.startswith(("4", "5")) and answer.endswith(" rcpt"):
            self.answered[answer[:3] + " to RCPT"] += 1
            return answer.removesuffix(" rcpt")
        if answer == "drop-before":  # the connection breaks before the message
            self.answered["dropped before DATA"] += 1
            server.transport.close()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        address = envelope.rcpt_tos[0]
        answer = self.policy(address, self.attempts[address]) if self.policy else None
        if answer and answer.startswith(("4", "5")) and not answer.endswith(" rcpt"):
            self.answered[answer[:3] + " to DATA"] += 1
            return answer
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt] += 1
        if answer == "drop":  # it has the message; the connection breaks before the answer
            self.answered["dropped after DATA"] += 1
            server.transport.close()
        return "250 Message accepted for delivery"


# --- the product --------------------------------------------------------------------------------


@dataclass
class Product:
    """The deployed product for one scenario: a fresh database and Redis database, the
    SMTP server, web, worker and beat, a write key."""

    stack: Stack
    mail: MailServer

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path, name: str) -> Iterator[Product]:
        mail = MailServer()
        stack = Stack(workdir=workdir, mailbox=mail)  # type: ignore[arg-type]
        logs = workdir / "logs"
        shutil.rmtree(logs, ignore_errors=True)  # the build's, or a run that was cut short
        logs.mkdir()
        stack.backing_services()
        try:
            stack.environment()
            stack.start()
            stack.keys()
            yield cls(stack, mail)
        finally:
            stack.stop()
            with contextlib.suppress(Exception):  # a server the scenario broke
                stack.drop_backing_data()
                stack.release()
            kept = workdir / f"logs-{name}"
            shutil.rmtree(kept, ignore_errors=True)
            logs.rename(kept)

    # -- the database, read to count -----------------------------------------------------

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        """The rows of a query on the product's database; waits for it while it restarts."""
        deadline = time.monotonic() + 120
        while True:
            try:
                with psycopg.connect(self.stack.database_url, connect_timeout=3) as connection:
                    return connection.execute(query, params).fetchall()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    # -- mail -------------------------------------------------------------------------------

    def customers_with_a_welcome_due(self, count: int) -> list[str]:
        """`count` customers who confirmed the newsletter in the last 20 hours: the
        welcome mail is due for each (bench/sending.py's data, at the real clock)."""
        cohort = Cohort("chaos", 1, count, dt.datetime.now(dt.UTC))
        data_generate(self.stack.database_url, [cohort], background=0, seed=14)
        return [row[0] for row in self.sql("SELECT email FROM profiles_profile ORDER BY id")]

    def sending_start(self, workers: int = 2) -> None:
        """The scheduler's job queued `workers` times at once (beat queues it every minute;
        two at once keep both worker processes sending, claiming batches in turn)."""
        for _ in range(workers):
            self.celery("call", "core.tasks.run_periodic", "--args", '["campaigns"]')

    def celery(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - the product's own celery
            ["celery", "-A", "config", *args],
            cwd=self.stack.app,
            env=self.stack.envs["worker"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return result.stdout

    def sends(self) -> Counter[str]:
        rows = self.sql("SELECT status, count(*) FROM campaigns_send GROUP BY status")
        return Counter({status: n for status, n in rows})

    def wait_until_sent(self, at_least: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.sends()["sent"] < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {at_least} sent after {timeout:.0f} s")
            time.sleep(0.25)

    def wait_until_quiet(self, timeout: float = 900, still: float = 10) -> Counter[str]:
        """Until no send is being claimed or sent for `still` seconds."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            now = self.sends()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= still:
                return now
            if time.monotonic() > deadline:
                return now
            time.sleep(1)

    def tick_later(self, after: dt.timedelta) -> dict:
        """`manage.py tick --now` at the real clock plus `after`: every periodic job once,
        as beat would run it then (a dead worker's lease, a deferral's wait)."""
        return self.stack.tick(dt.datetime.now(dt.UTC) + after)

    def mail_tally(self, addresses: list[str]) -> dict[str, int]:
        """What became of each customer's welcome mail: sent, received by the SMTP server,
        duplicates, unknown (and how many of those it in fact received), refused (skipped
        for good by the server's answer), lost (due and never accounted for)."""
        rows = self.sql(
            "SELECT p.email, s.status, s.reason FROM campaigns_send s"
            " JOIN profiles_profile p ON p.id = s.profile_id"
            " JOIN campaigns_campaign c ON c.id = s.campaign_id WHERE c.key = 'welcome'"
        )
        status = {email: (state, reason) for email, state, reason in rows}
        received = self.mail.received
        unknown = [a for a in addresses if status.get(a, ("",))[0] == "unknown"]

        def lost(address: str) -> bool:
            state = status.get(address, ("none",))[0]
            if state == "sent":
                return address not in received  # recorded as sent, never arrived
            if address in received:
                return state != "unknown"  # arrived, recorded as neither sent nor unknown
            return state not in ("unknown", "skipped")  # never sent nor accounted for

        return {
            "due": len(addresses),
            "sent": sum(1 for a in addresses if status.get(a, ("",))[0] == "sent"),
            "received": sum(1 for a in addresses if a in received),
            "duplicates": sum(received[a] - 1 for a in addresses if received[a] > 1),
            "unknown": len(unknown),
            "unknown_received": sum(1 for a in unknown if a in received),
            "refused": sum(1 for a in addresses if status.get(a, ("",))[0] == "skipped"),
            "lost": sum(1 for a in addresses if lost(a)),
        }


# --- the shop's clients -------------------------------------------------------------------------


@dataclass
class Ingest:
    """Shop clients posting batches of events as analytics-python does: each batch with
    its own messageIds, retried unchanged on a connection error, a 5xx or a 429 (with
    backoff, up to 2 minutes), given up on a 4xx. Half the events are orders, so the
    customers' roll-ups can be checked against what was acknowledged."""

    base_url: str
    write_key: str
    clients: int = 4
    batch: int = 20
    customers: int = 200
    acked: set[str] = field(default_factory=set)
    orders: Counter[str] = field(default_factory=Counter)  # acknowledged orders per user id
    answers: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for n in range(self.clients):
            thread = threading.Thread(target=self._client, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=180)

    def _batch(self, rng: random.Random) -> tuple[list[dict], Counter[str]]:
        events, orders = [], Counter[str]()
        for _ in range(self.batch):
            user = f"chaos-{rng.randrange(self.customers):04d}"
            message_id = str(uuid.uuid4())
            if rng.random() < 0.5:
                total = round(rng.uniform(5, 150), 2)
                orders[user] += 1
                event = {
                    "type": "track", "event": "Order Completed", "userId": user,
                    "messageId": message_id,
                    "properties": {"order_id": message_id, "total": total, "currency": "EUR"},
                }  # fmt: skip
            else:
                event = {
                    "type": "track", "event": "Product Viewed", "userId": user,
                    "messageId": message_id,
                    "properties": {"product_id": f"SH-{rng.randrange(300)}", "category": "schoenen"},
                }  # fmt: skip
            events.append(event)
        return events, orders

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        session = requests.Session()
        session.auth = (self.write_key, "")
        while not self._stop.is_set():
            events, orders = self._batch(rng)
            if self._post(session, events):
                with self._lock:
                    self.acked.update(e["messageId"] for e in events)
                    self.orders.update(orders)

    def _post(self, session: requests.Session, events: list[dict]) -> bool:
        """One batch until the server takes or refuses it; True when taken."""
        deadline, pause = time.monotonic() + 120, 0.2
        body = {"batch": events, "sentAt": dt.datetime.now(dt.UTC).isoformat()}
        while time.monotonic() < deadline:
            try:
                answer = session.post(f"{self.base_url}/api/v1/batch", json=body, timeout=15)
                kind = str(answer.status_code)
                if answer.status_code >= 500 and "json" not in answer.headers.get(
                    "Content-Type", ""
                ):
                    kind += " (not JSON)"
            except requests.RequestException as error:
                kind = type(error).__name__
                answer = None
            with self._lock:
                self.answers[kind] += 1
            if answer is not None and answer.status_code == 200:
                return True
            if answer is not None and 400 <= answer.status_code < 500 and answer.status_code != 429:
                self.refused.append(answer.text[:200])
                return False
            time.sleep(pause)
            pause = min(pause * 2, 3)
        return False

    def check(self, product: Product, *, converge: float = 420) -> dict[str, Any]:
        """Every acknowledged event stored once; every customer's order count equal to
        their acknowledged orders (the roll-ups caught up), waiting up to `converge` s."""
        acked = sorted(self.acked)
        stored: set[str] = set()
        for start in range(0, len(acked), 5000):
            chunk = acked[start : start + 5000]
            stored.update(
                row[0]
                for row in product.sql(
                    "SELECT message_id FROM events_event WHERE message_id = ANY(%s)", [chunk]
                )
            )
        twice = product.sql(
            "SELECT count(*) FROM (SELECT message_id FROM events_event"
            " GROUP BY message_id HAVING count(*) > 1) AS twice"
        )[0][0]
        started, wrong = time.monotonic(), {}
        while True:
            counts = dict(
                product.sql(
                    "SELECT user_id, order_count FROM profiles_profile WHERE user_id LIKE 'chaos-%%'"
                )
            )
            wrong = {u: (counts.get(u), n) for u, n in self.orders.items() if counts.get(u) != n}
            if not wrong or time.monotonic() - started > converge:
                break
            time.sleep(5)
        return {
            "acknowledged": len(acked),
            "stored": len(stored),
            "lost": len(acked) - len(stored),
            "duplicates": twice,
            "answers": dict(self.answers),
            "refused": len(self.refused),
            "rollups_wrong": len(wrong),
            "rollups_caught_up_after_s": round(time.monotonic() - started),
            "orders": sum(self.orders.values()),
        }


# --- load -------------------------------------------------------------------------------------


def _load_process(base_url: str, write_key: str, threads: int, seconds: float, seed: int) -> dict:
    """One process's share of the clients: `threads` shop clients, each posting one
    `track` call after the other, as fast as the answers come, for `seconds`."""
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        session = requests.Session()
        session.auth = (write_key, "")
        while time.monotonic() < deadline:
            event = {
                "userId": f"load-{rng.randrange(5000):05d}",
                "event": "Product Viewed",
                "messageId": str(uuid.uuid4()),
                "properties": {"product_id": f"SH-{rng.randrange(300)}", "category": "schoenen"},
            }
            began = time.perf_counter()
            try:
                status = str(
                    session.post(f"{base_url}/api/v1/track", json=event, timeout=30).status_code
                )
            except requests.RequestException as error:
                status = type(error).__name__
            took = time.perf_counter() - began
            with lock:
                answers[status] += 1
                if status == "200":
                    latencies.append(took)

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"latencies": latencies, "answers": dict(answers)}


def load(base_url: str, write_key: str, *, clients: int = 50, seconds: float = 60) -> dict:
    """`clients` concurrent shop clients on the event API for `seconds`, spread over
    processes of 10 threads (one Python process would cap the clients, not the server):
    answers, throughput, and p50/p95/p99 of the accepted calls."""
    processes = max(1, clients // 10)
    shares = [
        clients // processes + (1 if n < clients % processes else 0) for n in range(processes)
    ]
    spawn = multiprocessing.get_context("spawn")  # this process runs threads: no fork
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=spawn) as pool:
        results = list(
            pool.map(
                _load_process,
                [base_url] * processes,
                [write_key] * processes,
                shares,
                [seconds] * processes,
                range(processes),
            )
        )
    latencies = sorted(x for r in results for x in r["latencies"])
    answers: Counter[str] = Counter()
    for result in results:
        answers.update(result["answers"])
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    total = sum(answers.values())
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": total,
        "accepted": answers.get("200", 0),
        "errors": total - answers.get("200", 0),
        "answers": dict(answers),
        "per_second": round(answers.get("200", 0) / seconds, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
    }


def dumps(figures: dict) -> str:
    return json.dumps(figures, indent=2, default=str)
