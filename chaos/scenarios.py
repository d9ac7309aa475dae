"""The faults and the load, one function each. Each runs on a fresh deployed product
(chaos/harness.py) and returns its figures with `target` (what must hold) and `met`.

Mail: nothing sent twice, nothing lost, "unknown" within the in-flight window (one
handover chunk per worker process killed or cut off). Events: every acknowledged event
stored once, every roll-up right in the end, no 500 and no answer that is not JSON.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from .harness import HANDOVER_CHUNK, LEASE, Ingest, Product, load
from .servers import Postgres, Redis

WORKER_PROCESSES = 2  # celery's prefork pool on a 2-core machine (its default: one per core)


def _mail_target(tally: dict[str, int], window: int) -> dict[str, Any]:
    return {
        **tally,
        "unknown_window": window,
        "target": f"0 duplicates, 0 lost, unknown <= {window}",
        "met": tally["duplicates"] == 0 and tally["lost"] == 0 and tally["unknown"] <= window,
    }


def _finish_sending(product: Product) -> None:
    """Let everything still due go out: the worker until it is quiet, then the dead
    workers' leases run out (`tick --now`, as beat would 10 minutes later)."""
    product.wait_until_quiet()
    product.tick_later(LEASE + dt.timedelta(minutes=1))
    product.wait_until_quiet(still=5)


def _probe(base_url: str, into: Counter[str], stop: threading.Event) -> threading.Thread:
    """While a backing service is away: a customer's sign-up page, the preference-link
    form and /healthz, once a second, their answers counted ("500" must never appear)."""

    def run() -> None:
        session = requests.Session()
        while not stop.is_set():
            for path in ("/subscribe/", "/healthz"):
                try:
                    answer = session.get(base_url + path, timeout=10)
                    key = f"GET {path} {answer.status_code}"
                    if path == "/healthz":
                        key += f" {answer.text.strip()[:60]}"
                except requests.RequestException as error:
                    key = f"GET {path} {type(error).__name__}"
                into[key] += 1
            stop.wait(1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- mail ------------------------------------------------------------------------------------


def worker_kill(workdir: Path, servers: tuple[Postgres, Redis], mails: int, kills: int = 3) -> dict:
    """`kill -9` of the whole worker (its master and both pool processes) `kills` times
    while `mails` welcome mails go out, each time started again as compose's restart
    policy does."""
    with Product.running(workdir, "worker-kill") as product:
        addresses = product.customers_with_a_welcome_due(mails)
        started = time.monotonic()
        product.sending_start(WORKER_PROCESSES)
        killed_at = []
        for kill in range(1, kills + 1):
            product.wait_until_sent(mails * kill // (kills + 1))
            killed_at.append(product.sends()["sent"])
            product.stack.kill("worker")
            product.stack.respawn("worker")
            product.sending_start(WORKER_PROCESSES)
        _finish_sending(product)
        tally = product.mail_tally(addresses)
        return {
            "killed_when_sent": killed_at,
            "seconds": round(time.monotonic() - started),
            **_mail_target(tally, kills * WORKER_PROCESSES * HANDOVER_CHUNK),
        }


def redis_kill_sending(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """Redis (broker and cache) killed with SIGKILL while mails go out, back 15 s later."""
    _postgres, redis = servers
    probes: Counter[str] = Counter()
    with Product.running(workdir, "redis-kill-sending") as product:
        addresses = product.customers_with_a_welcome_due(mails)
        product.sending_start(WORKER_PROCESSES)
        product.wait_until_sent(mails // 4)
        stop = threading.Event()
        _probe(product.stack.base_url, probes, stop)
        redis.kill()
        killed_when = product.sends()["sent"]
        time.sleep(15)
        redis.start()
        stop.set()
        product.sending_start(WORKER_PROCESSES)
        _finish_sending(product)
        tally = product.mail_tally(addresses)
        result = {
            "killed_when_sent": killed_when,
            "probes_while_away": dict(probes),
            **_mail_target(tally, WORKER_PROCESSES * HANDOVER_CHUNK),
        }
        result["met"] = result["met"] and not any(" 500" in key for key in probes)
        return result


def postgres_restart_sending(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """PostgreSQL restarted (every connection cut) while mails go out."""
    postgres, _redis = servers
    with Product.running(workdir, "postgres-restart-sending") as product:
        addresses = product.customers_with_a_welcome_due(mails)
        product.sending_start(WORKER_PROCESSES)
        product.wait_until_sent(mails // 3)
        restarted_when = product.sends()["sent"]
        postgres.restart()
        product.sending_start(WORKER_PROCESSES)  # else beat's next tick, within a minute
        _finish_sending(product)
        tally = product.mail_tally(addresses)
        return {
            "restarted_when_sent": restarted_when,
            **_mail_target(tally, WORKER_PROCESSES * HANDOVER_CHUNK),
        }


def smtp_faults(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """The mail server misbehaves for some recipients, by a fixed seed: "try later" (450
    to RCPT, 451 to DATA) on the first attempt, "no" (550, 554) for good, and the
    connection dropped before the message or after it (the server has it) once."""
    rng = random.Random(14)
    plan: dict[str, str] = {}

    def policy(address: str, attempt: int) -> str | None:
        fault = plan.get(address)
        if fault is None:
            return None
        if fault.startswith("5"):
            return fault  # every attempt
        return fault if attempt == 1 else None

    with Product.running(workdir, "smtp-faults") as product:
        addresses = product.customers_with_a_welcome_due(mails)
        faults = [
            ("450 4.2.0 Greylisted, try again later rcpt", 0.03),
            ("451 4.3.0 Mailbox busy", 0.02),
            ("550 5.1.1 No such user rcpt", 0.01),
            ("554 5.7.1 Message rejected", 0.01),
            ("drop-before", 0.002),
            ("drop", 0.002),
        ]
        for address in addresses:
            draw = rng.random()
            for fault, share in faults:
                if draw < share:
                    plan[address] = fault
                    break
                draw -= share
        product.mail.policy = policy
        started = time.monotonic()
        # What beat does each minute, at once: the worker sends until nothing is due.
        for _round in range(60):
            product.sending_start(1)
            product.wait_until_quiet(still=4)
            due = product.sql(
                "SELECT count(*) FROM campaigns_send WHERE status = 'scheduled' AND due_at <= now()"
            )[0][0]
            if not due:
                break
        # The deferred ones, when they are due again (10 and 20 minutes later).
        for minutes in (11, 32, 73):
            product.tick_later(dt.timedelta(minutes=minutes))
        tally = product.mail_tally(addresses)
        planned = Counter(fault.split(" ")[0] for fault in plan.values())
        drops_after = planned["drop"]
        result = {
            "faults_planned": dict(planned),
            "server_answered": dict(product.mail.answered),
            "seconds": round(time.monotonic() - started),
            **_mail_target(tally, drops_after),
        }
        refused_planned = planned["550"] + planned["554"]
        result["target"] += f", refused = {refused_planned} (the 5xx ones)"
        result["met"] = result["met"] and tally["refused"] == refused_planned
        return result


# --- events ---------------------------------------------------------------------------------


def _ingest_with(product: Product, fault, seconds: float = 40) -> tuple[Ingest, Counter[str]]:
    """Shop clients for `seconds`; the fault (a callable) breaks and mends a backing
    service from second 10 on, with the customer pages probed meanwhile."""
    ingest = Ingest(product.stack.base_url, product.stack.write_key)
    probes: Counter[str] = Counter()
    ingest.start()
    time.sleep(10)
    stop = threading.Event()
    _probe(product.stack.base_url, probes, stop)
    fault()
    stop.set()
    time.sleep(max(0.0, seconds - 10))
    ingest.stop()
    return ingest, probes


def _events_target(figures: dict, probes: Counter[str]) -> dict:
    answers = figures["answers"]
    bad = [k for k in answers if k.startswith("500") or "not JSON" in k]
    bad += [k for k in probes if " 500" in k]
    return {
        **figures,
        "probes_while_away": dict(probes),
        "target": "0 lost, 0 duplicates, roll-ups right, no 500, every error JSON",
        "met": (
            figures["lost"] == 0
            and figures["duplicates"] == 0
            and figures["rollups_wrong"] == 0
            and figures["refused"] == 0
            and not bad
        ),
    }


def redis_kill_ingest(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """Redis killed with SIGKILL while the shop posts events, back 15 s later."""
    _postgres, redis = servers

    def fault() -> None:
        redis.kill()
        time.sleep(15)
        redis.start()

    with Product.running(workdir, "redis-kill-ingest") as product:
        ingest, probes = _ingest_with(product, fault)
        return _events_target(ingest.check(product), probes)


def postgres_restart_ingest(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """PostgreSQL restarted (every connection cut) while the shop posts events."""
    postgres, _redis = servers

    with Product.running(workdir, "postgres-restart-ingest") as product:
        ingest, probes = _ingest_with(product, postgres.restart)
        return _events_target(ingest.check(product), probes)


# --- load ---------------------------------------------------------------------------------------


def load_alone(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """50 concurrent shop clients on the event API for 60 s."""
    with Product.running(workdir, "load") as product:
        figures = load(product.stack.base_url, product.stack.write_key)
        return {**figures, "target": "no errors", "met": figures["errors"] == 0}


def load_while_sending(workdir: Path, servers: tuple[Postgres, Redis], mails: int) -> dict:
    """The same load while the worker sends `mails` welcome mails."""
    with Product.running(workdir, "load-while-sending") as product:
        addresses = product.customers_with_a_welcome_due(mails)
        product.sending_start(WORKER_PROCESSES)
        before = product.sends()["sent"]
        figures = load(product.stack.base_url, product.stack.write_key)
        sent_meanwhile = product.sends()["sent"] - before
        _finish_sending(product)
        tally = product.mail_tally(addresses)
        mail = _mail_target(tally, 0)
        return {
            **figures,
            "mails_sent_during_load": sent_meanwhile,
            "mail": mail,
            "target": "no errors; mail: 0 duplicates, 0 lost, 0 unknown",
            "met": figures["errors"] == 0 and mail["met"],
        }


SCENARIOS = {
    "worker-kill": worker_kill,
    "redis-kill-sending": redis_kill_sending,
    "postgres-restart-sending": postgres_restart_sending,
    "smtp-faults": smtp_faults,
    "redis-kill-ingest": redis_kill_ingest,
    "postgres-restart-ingest": postgres_restart_ingest,
    "load": load_alone,
    "load-while-sending": load_while_sending,
}
