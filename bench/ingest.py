"""Benchmark: events per second through the Segment-compatible HTTP API.

Measures, in one run on a freshly created database of its own:

  (a) events/s end to end through `POST /api/v1/batch` on a real gunicorn (sync workers,
      `config.wsgi`), batches of 100 realistic Segment messages sent by several client
      threads; the clock stops when every batch has been answered 200 (the API answers
      after its transaction committed, so the rows are in the table); the row count is
      checked afterwards. Worker counts are tried first on a shorter run and the fastest
      is used for (a).
  (b) the roll-up tasks that (a) queued, drained afterwards by a real Celery worker
      (they are not part of (a)).
  (c) the same batches sent in-process, one after another, straight into Django's WSGI
      handler: no HTTP, no concurrency; SQL statements counted per batch, and under
      cProfile when (a) misses the target (or with --profile).
  (d) the baseline: a raw psycopg COPY of the same rows into the same events table
      (with its indexes), the fastest the database could take them.

The target from the issue (at least 5,000 events/s for (a) on a 2-core machine) is
reported, never asserted; the exit status is non-zero only when a correctness check fails.

    python -m bench ingest [--events N] [--workers 2,3,4] [--clients N] [--profile] [--keep-db]
"""

import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import (
    CATEGORIES,
    CITIES,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREETS,
    TIERS,
    ascii_name,
    nl_postal_letters,
)
from bench.db import (
    DEFAULT_REDIS_URL,
    database_fresh,
    database_name,
    database_url,
    django_env,
    django_start,
    free_port,
    measure,
    migrate,
    redis_delete,
    redis_unreachable,
    run_lock,
    server_version,
)
from bench.report import (
    RESULTS,
    ROOT,
    Checks,
    cumulative_seconds,
    keep_db_options,
    parser_make,
    results_finish,
    run_as_script,
    run_meta,
    top,
)

BIN = Path(sys.executable).parent
TARGET_EVENTS_PER_SECOND = 5_000
SETTINGS = "bench.ingest_settings"

# --- Test data ------------------------------------------------------------------------

BRANDS = ["Noorderlicht", "Kade", "Duinzand", "Polder & Co", "Veenstra", "Tulp", "Zeewind"]
PRODUCT_WORDS = ["Basic", "Classic", "Urban", "Comfort", "Premium", "Eco", "Soft", "Outdoor"]
PAGES = [
    ("Home", "/"),
    ("Nieuw binnen", "/nieuw"),
    ("Sale", "/sale"),
    ("Zoeken", "/zoeken"),
    ("Winkelmand", "/winkelmand"),
    ("Klantenservice", "/klantenservice"),
    ("Categorie", "/c/{slug}"),
]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
]
# What a known customer does (weights), and a visitor the shop does not know yet.
KNOWN_MIX = [("identify", 8), ("page", 25), ("Product Viewed", 38), ("Product Added", 17)]
KNOWN_MIX += [("Order Completed", 7)]
ANONYMOUS_MIX = [("page", 40), ("Product Viewed", 45), ("Product Added", 15)]
# Events that only need storing: no identify, no order (with its consent side effects).
PLAIN_EVENTS = ("Product Viewed", "Product Added")


@dataclass
class Product:
    product_id: str
    sku: str
    name: str
    category: str
    brand: str
    price: float


@dataclass
class Visitor:
    anonymous_id: str
    user_id: str = ""  # "" for a visitor the shop does not know
    traits: dict[str, Any] = field(default_factory=dict)
    identified: bool = False


def _postal_code(rng: random.Random) -> str:
    letters = nl_postal_letters(rng)
    return f"{rng.randint(1000, 9999)} {letters}"


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _products(rng: random.Random) -> list[Product]:
    products = []
    for n in range(400):
        category = CATEGORIES[n % len(CATEGORIES)]
        products.append(
            Product(
                product_id=f"P{10000 + n}",
                sku=f"SKU-{rng.randint(100000, 999999)}",
                name=f"{rng.choice(PRODUCT_WORDS)} {category.lower().rstrip('e')} {n}",
                category=category,
                brand=rng.choice(BRANDS),
                price=round(rng.uniform(4.95, 189.95), 2),
            )
        )
    return products


def _visitors(rng: random.Random, tag: str, known: int) -> tuple[list[Visitor], list[Visitor]]:
    customers, strangers = [], []
    for n in range(known):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{tag}{100000 + n}"
        traits: dict[str, Any] = {
            "email": f"{ascii_name(first)}.{ascii_name(last)}.{user_id}@{rng.choice(DOMAINS)}",
            "firstName": first,
            "lastName": last,
            "loyalty_tier": rng.choice(TIERS),
        }
        if rng.random() < 0.5:
            traits["phone"] = f"06-{rng.randint(10000000, 99999999)}"
        if rng.random() < 0.4:
            birthday = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 55))
            traits["birthday"] = birthday.isoformat()
        if rng.random() < 0.5:
            traits["address"] = {
                "street": rng.choice(STREETS),
                "houseNumber": str(rng.randint(1, 250)),
                "postalCode": _postal_code(rng),
                "city": rng.choice(CITIES["NL"]),
                "country": "NL",
            }
        customers.append(Visitor(str(uuid.UUID(int=rng.getrandbits(128))), user_id, traits))
    for _n in range(known):
        strangers.append(Visitor(str(uuid.UUID(int=rng.getrandbits(128)))))
    return customers, strangers


def _context(rng: random.Random, visitor: Visitor, path: str, title: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "ip": f"77.{rng.randint(160, 175)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "userAgent": rng.choice(USER_AGENTS),
        "locale": "nl-NL",
        "timezone": "Europe/Amsterdam",
        "page": {
            "path": path,
            "url": f"https://www.voorbeeldwinkel.nl{path}",
            "title": f"{title} | Voorbeeldwinkel",
            "referrer": rng.choice(["", "https://www.google.nl/", "https://www.instagram.com/"]),
        },
    }
    if rng.random() < 0.15:
        context["campaign"] = {
            "source": rng.choice(["newsletter", "google", "instagram"]),
            "medium": rng.choice(["email", "cpc", "social"]),
            "name": rng.choice(["voorjaar", "sale", "nieuw-binnen"]),
        }
    return context


def _product_properties(product: Product, quantity: int = 1) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "brand": product.brand,
        "price": product.price,
        "quantity": quantity,
        "currency": "EUR",
        "url": f"https://www.voorbeeldwinkel.nl/p/{product.product_id.lower()}",
    }


@dataclass
class Workload:
    existing: list[dict[str, Any]]  # identify calls of the customers the shop already had
    messages: list[dict[str, Any]]  # what is measured


def messages_generate(
    n: int,
    *,
    seed: int,
    tag: str,
    base: dt.datetime,
    existing_share: float = 0.9,
    customers: int = 0,
) -> Workload:
    """`n` Segment messages of a web shop: identify, page and track (Product Viewed, Product
    Added, Order Completed), from customers (userId and anonymousId) and from visitors not
    known yet (anonymousId only). `tag` makes the message ids and user ids this run's own.

    One customer for every 20 events (or `customers`); `existing_share` of them are already
    in the database (their identify calls are sent before the clock starts), the others
    sign up during the run, so an identify is mostly a login of a known customer,
    sometimes with a change."""
    rng = random.Random(seed)
    products = _products(rng)
    known, strangers = _visitors(rng, tag, customers or max(200, n // 20))
    existing = []
    for k, visitor in enumerate(known[: int(len(known) * existing_share)]):
        visitor.identified = True
        existing.append(
            {
                "type": "identify",
                "messageId": f"{tag}s-{k:07d}",
                "userId": visitor.user_id,
                "anonymousId": visitor.anonymous_id,
                "timestamp": _iso(base - dt.timedelta(days=rng.uniform(1, 700))),
                "traits": dict(visitor.traits),
                "context": _context(rng, visitor, "/account/aanmelden", "Aanmelden"),
            }
        )
    rng.shuffle(known)  # the new ones are not the busiest
    known_kinds, known_weights = zip(*KNOWN_MIX, strict=True)
    anon_kinds, anon_weights = zip(*ANONYMOUS_MIX, strict=True)
    messages = []
    for i in range(n):
        is_known = rng.random() < 0.7
        pool = known if is_known else strangers
        visitor = pool[int(len(pool) * rng.random() ** 1.5)]  # some visitors are busier
        kind = rng.choices(known_kinds if is_known else anon_kinds, known_weights if is_known else anon_weights)[0]  # fmt: skip
        product = rng.choice(products)
        message: dict[str, Any] = {
            "messageId": f"{tag}-{i:07d}-{rng.getrandbits(32):08x}",
            "anonymousId": visitor.anonymous_id,
            "timestamp": _iso(base - dt.timedelta(seconds=rng.uniform(0, 3600))),
        }
        if visitor.user_id:
            message["userId"] = visitor.user_id
        if kind == "identify":
            traits = dict(visitor.traits)
            if visitor.identified and rng.random() < 0.15:  # a new loyalty tier: an update
                visitor.traits["loyalty_tier"] = traits["loyalty_tier"] = rng.choice(TIERS)
            visitor.identified = True
            message.update(type="identify", traits=traits)
            message["context"] = _context(rng, visitor, "/account", "Mijn account")
        elif kind == "page":
            title, path = rng.choice(PAGES)
            path = path.format(slug=product.category.lower())
            message.update(
                type="page",
                name=title,
                properties={"path": path, "url": f"https://www.voorbeeldwinkel.nl{path}"},
            )
            message["context"] = _context(rng, visitor, path, title)
        elif kind == "Order Completed":
            lines = [
                _product_properties(p, rng.choice([1, 1, 1, 2]))
                for p in rng.sample(products, rng.choice([1, 1, 2, 3]))
            ]
            revenue = round(sum(p["price"] * p["quantity"] for p in lines), 2)
            shipping = 0.0 if revenue > 50 else 4.95
            properties: dict[str, Any] = {
                "order_id": f"{tag}-ORD-{i:07d}",
                "total": round(revenue + shipping, 2),
                "revenue": revenue,
                "shipping": shipping,
                "tax": round(revenue * 21 / 121, 2),
                "currency": "EUR",
                "products": lines,
            }
            # Most checkouts offer the opt-out of the existing-customer exception.
            if rng.random() < 0.8:
                properties["marketing_opt_out_offered"] = True
                properties["marketing_opt_out"] = rng.random() < 0.05
            message.update(type="track", event=kind, properties=properties)
            message["context"] = _context(rng, visitor, "/afrekenen/bedankt", "Bedankt")
        else:
            path = f"/p/{product.product_id.lower()}"
            message.update(type="track", event=kind, properties=_product_properties(product))
            message["context"] = _context(rng, visitor, path, product.name)
        messages.append(message)
    return Workload(existing, messages)


def bodies_make(
    messages: list[dict[str, Any]], batch_size: int, sent_at: dt.datetime
) -> list[bytes]:
    """The request bodies, encoded before any clock starts (as a client library would
    have them ready)."""
    return [
        json.dumps({"batch": messages[i : i + batch_size], "sentAt": _iso(sent_at)}).encode()
        for i in range(0, len(messages), batch_size)
    ]


def streams_make(
    messages: list[dict[str, Any]],
    batch_size: int,
    sent_at: dt.datetime,
    *,
    clients: int,
    routing: str,
) -> list[list[bytes]]:
    """What each client sends. "mixed": one stream in batches of consecutive messages, the
    next batch to whichever client is free (several servers of the shop sending at once,
    so one customer's events can be in two batches at the same time). "per-customer": every
    customer's (or visitor's) events always through the same client."""
    if routing == "mixed":
        return [bodies_make(messages, batch_size, sent_at)]
    parts: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    for m in messages:
        parts[zlib.crc32((m.get("userId") or m["anonymousId"]).encode()) % clients].append(m)
    return [bodies_make(part, batch_size, sent_at) for part in parts]


# --- Environment -------------------------------------------------------------------------


@dataclass
class Setup:
    url: str
    db_name: str
    redis_url: str  # "" when Redis could not be reached (broker memory://)
    run: str  # this run's Celery queue and cache key prefix
    env: dict[str, str]
    log: Path


def setup_make(redis_url: str) -> Setup:
    """The run's database, Redis (its notes printed when either is not what was asked)
    and the environment of its servers."""
    url = database_url("_ingest")
    run = f"klantbeeld-bench-ingest-{os.getpid()}"
    unreachable = redis_unreachable(redis_url)
    if unreachable:
        print(f"Redis at {redis_url} unreachable ({unreachable}); broker memory:// instead.")
        redis_url = ""
    env = {
        **os.environ,
        **django_env(url, SETTINGS),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url or "memory://",
        "KLANTBEELD_BENCH_RUN": run,
        "PYTHONPATH": str(ROOT),
    }
    RESULTS.mkdir(exist_ok=True)
    return Setup(url, database_name(url), redis_url, run, env, RESULTS / "ingest-servers.log")


def django_setup_as_servers(setup: Setup) -> None:
    """Django in this process with the servers' settings and environment."""
    os.environ.update(setup.env)
    # Without collectstatic whitenoise warns once per handler; (c) builds one.
    warnings.filterwarnings("ignore", message="No directory at")
    django_start()


def _redis(setup: Setup) -> Any:
    import redis

    return redis.Redis.from_url(setup.redis_url)


def queue_length(setup: Setup) -> int:
    return int(_redis(setup).llen(setup.run)) if setup.redis_url else 0


def rollups_waiting(setup: Setup) -> int:
    """Customers waiting for a roll-up drain, or taken by one and not refreshed yet
    (events/rollup_queue.py keeps them in two sets)."""
    if not setup.redis_url:
        return 0
    from events.rollup_queue import rollups_keys  # this run's own: its queue is the run's name

    waiting, _queued, taken, _failed = rollups_keys()
    client = _redis(setup)
    return int(client.scard(waiting)) + int(client.scard(taken))


@contextlib.contextmanager
def queue_purged(setup: Setup) -> Iterator[None]:
    """This run's queue purged when the block ends, however it ends."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            queue_purge(setup)


def queue_purge(setup: Setup) -> None:
    """Remove this run's queue and kombu's bindings of it: every key with the run's name in
    it, never anything else."""
    if setup.redis_url:
        redis_delete(setup.redis_url, f"*{setup.run}*")


# --- CPU accounting ------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields else 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    return (total - idle) / TICKS, total / TICKS


@dataclass
class CpuSnapshot:
    at: float
    workers: dict[int, float]
    backends: dict[int, float]
    client: float
    machine: tuple[float, float]


def cpu_snapshot(server: "Server", db_name: str) -> CpuSnapshot:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db_name],
        )
        backends = [row[0] for row in cursor.fetchall()]
    return CpuSnapshot(
        at=time.perf_counter(),
        workers={pid: process_cpu(pid) for pid in children(server.proc.pid)},
        backends={pid: process_cpu(pid) for pid in backends},
        client=time.process_time(),
        machine=machine_cpu(),
    )


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    def spent(a: dict[int, float], b: dict[int, float]) -> float:
        return sum(cpu - a.get(pid, 0.0) for pid, cpu in b.items())

    wall = after.at - before.at
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    workers = spent(before.workers, after.workers)
    backends = spent(before.backends, after.backends)
    client = after.client - before.client
    return {
        "wall_seconds": round(wall, 2),
        "gunicorn_workers_cpu_seconds": round(workers, 2),
        "postgres_backends_cpu_seconds": round(backends, 2),
        "client_cpu_seconds": round(client, 2),
        # PostgreSQL's own background work (WAL writer, checkpointer), Redis, the kernel,
        # and whatever else runs on the machine (a test suite, say).
        "other_cpu_seconds": round(busy - workers - backends - client, 2),
        "machine_busy_cpu_seconds": round(busy, 2),
        "machine_busy_share": round(busy / total, 3) if total else 0.0,
    }


# --- The web server ------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    workers: int
    worker_class: str


def server_start(setup: Setup, workers: int, worker_class: str) -> Server:
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        "120",
        "--access-logfile",  # as the Dockerfile runs it
        "-",
    ]
    proc = process_start(setup, command, f"gunicorn {workers} x {worker_class} on port {port}")
    return Server(proc, port, workers, worker_class)


def server_stop(server: Server) -> None:
    if server.proc.poll() is None:
        process_stop(server.proc)


def process_start(setup: Setup, command: list[str], title: str) -> subprocess.Popen:
    """A server of the run (gunicorn, the Celery worker) in a session of its own, its
    output appended to the run's log under `title`."""
    with setup.log.open("a") as log:
        log.write(f"\n=== {title} ===\n")
        log.flush()
        return subprocess.Popen(  # noqa: S603 - our own command line
            command,
            cwd=ROOT,
            env=setup.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's own session (a master and its workers); SIGKILL when it
    has not ended after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def server_ready(server: Server, auth: str, timeout: float = 60.0) -> None:
    """Wait until every worker answers: an empty batch, then a few small warm-up batches
    from as many clients as there are workers (imports done, database connections open)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.proc.returncode}); see the server log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("POST", "/api/v1/batch", b'{"batch": []}', _headers(auth))
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                break
            raise SystemExit(f"the API answered {response.status} to an empty batch")
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start in time; see the server log") from None
            time.sleep(0.2)


def _headers(auth: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Authorization": auth,
        "User-Agent": "klantbeeld-bench (analytics-python compatible)",
    }


# --- The client ------------------------------------------------------------------------------


@dataclass
class Sent:
    seconds: float
    batches: int
    statuses: Counter = field(default_factory=Counter)  # of every attempt
    retries: int = 0
    refused: list[str] = field(default_factory=list)  # batches that never got a 200
    latencies: list[float] = field(default_factory=list)


def batches_send(port: int, auth: str, streams: list[list[bytes]], clients: int) -> Sent:
    """Send every body once from `clients` threads (each with its own keep-alive
    connection, reopened when the server closes it) and retry as Segment's libraries do:
    on a connection error, a 5xx or a 429, with backoff, at most 3 times. One stream is
    shared by all clients; otherwise client i sends stream i."""
    lock = threading.Lock()
    shared = len(streams) == 1
    bodies = [body for stream in streams for body in stream]
    sent = Sent(0.0, len(bodies))
    headers = _headers(auth)
    pending = iter(range(len(bodies)))
    offsets = [sum(len(s) for s in streams[:i]) for i in range(len(streams))]

    def client(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        own = iter(range(offsets[number], offsets[number] + len(streams[number])))
        while True:
            if shared:
                with lock:
                    index = next(pending, None)
            else:
                index = next(own, None)
            if index is None:
                break
            for attempt in range(4):
                start = time.perf_counter()
                try:
                    conn.request("POST", "/api/v1/batch", bodies[index], headers)
                    response = conn.getresponse()
                    answer = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status, answer = 0, str(exc).encode()
                with lock:
                    sent.statuses[status] += 1
                    sent.latencies.append(time.perf_counter() - start)
                if status == 200:
                    break
                retry = (status == 0 or status >= 500 or status == 429) and attempt < 3
                if not retry:
                    with lock:
                        sent.refused.append(f"batch {index}: {status} {answer[:300]!r}")
                    break
                with lock:
                    sent.retries += 1
                time.sleep(0.05 * 2**attempt)
        conn.close()

    if not shared and len(streams) != clients:
        raise ValueError("one stream per client")
    threads = [
        threading.Thread(target=client, args=(0 if shared else n,), daemon=True)
        for n in range(clients)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.seconds = time.perf_counter() - start
    return sent


def events_stored(prefix: str) -> int:
    from events.models import Event

    return Event.objects.filter(message_id__startswith=prefix).count()


@dataclass
class HttpRun:
    label: str
    workers: int
    worker_class: str
    clients: int
    routing: str
    events: int
    sent: Sent
    stored: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Events stored per second (a refused batch does not count)."""
        return self.stored / self.sent.seconds

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.sent.latencies)
        return {
            "label": self.label,
            "workers": self.workers,
            "worker_class": self.worker_class,
            "clients": self.clients,
            "routing": self.routing,
            "events": self.events,
            "batches": self.sent.batches,
            "seconds": round(self.sent.seconds, 3),
            "events_per_second": round(self.rate),
            "stored": self.stored,
            "statuses": {str(k): v for k, v in sorted(self.sent.statuses.items())},
            "retries": self.sent.retries,
            "refused_batches": self.sent.refused[:20],
            "latency_ms_p50": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
            "latency_ms_p95": round(lat[int(len(lat) * 0.95)] * 1000, 1) if lat else None,
            "latency_ms_max": round(lat[-1] * 1000, 1) if lat else None,
            "cpu": self.cpu,
        }


def http_measure(
    setup: Setup,
    auth: str,
    *,
    label: str,
    tag: str,
    events: int,
    batch_size: int,
    workers: int,
    worker_class: str,
    clients: int,
    routing: str,
    seed: int,
    customers: int = 0,
    keep_running: bool = False,
) -> tuple[HttpRun, Server | None, Workload]:
    """Start gunicorn, warm it up, load the shop's existing customers, then time the
    workload (the only part measured)."""
    base = dt.datetime.now(dt.UTC)
    work = messages_generate(events, seed=seed, tag=tag, base=base, customers=customers)
    streams = streams_make(work.messages, batch_size, base, clients=clients, routing=routing)
    existing = streams_make(
        work.existing, batch_size, base, clients=workers, routing="per-customer"
    )
    warm = messages_generate(10 * workers * 2, seed=seed + 1, tag=f"w{tag}", base=base).messages
    server = server_start(setup, workers, worker_class)
    try:
        server_ready(server, auth)
        batches_send(server.port, auth, [bodies_make(warm, 10, base)], workers)
        seeded = batches_send(server.port, auth, existing, workers)
        if seeded.refused:
            raise SystemExit(f"loading the existing customers failed: {seeded.refused[:3]}")
        queue_purge(setup)  # the roll-ups of (b) are those of this run only
        before = cpu_snapshot(server, setup.db_name)
        sent = batches_send(server.port, auth, streams, clients)
        after = cpu_snapshot(server, setup.db_name)
        run = HttpRun(
            label,
            workers,
            worker_class,
            clients,
            routing,
            events,
            sent,
            events_stored(f"{tag}-"),
        )
        run.cpu = cpu_used(before, after)
    except BaseException:
        server_stop(server)
        raise
    if not keep_running:
        server_stop(server)
        return run, None, work
    return run, server, work


# --- (b) Roll-ups ------------------------------------------------------------------------------


def rollups_drain(setup: Setup, concurrency: int, timeout: float = 1800.0) -> dict[str, Any]:
    """Start a Celery worker on this run's queue and time it until the queue is empty and
    nothing is left unacknowledged (the clock starts when the worker says it is ready)."""
    client = _redis(setup)
    tasks = queue_length(setup)
    waiting = rollups_waiting(setup)
    log_start = setup.log.stat().st_size if setup.log.exists() else 0
    command = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "-Q",
        setup.run,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{setup.run}@%h",
    ]
    proc = process_start(setup, command, f"celery worker, concurrency {concurrency}")
    try:
        deadline = time.monotonic() + 120
        while b" ready." not in setup.log.read_bytes()[log_start:]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the Celery worker did not start; see the server log")
            time.sleep(0.05)
        start = time.perf_counter()
        quiet = 0
        deadline = time.monotonic() + timeout
        while quiet < 3:
            if time.monotonic() > deadline:
                raise SystemExit("the roll-ups did not finish in time")
            busy = client.llen(setup.run) or client.hlen("unacked") or rollups_waiting(setup)
            quiet = 0 if busy else quiet + 1
            time.sleep(0.05)
        seconds = time.perf_counter() - start - 0.1  # the two extra quiet polls
    finally:
        process_stop(proc)
    log_text = setup.log.read_bytes()[log_start:]
    return {
        "tasks": tasks,
        "customers_waiting": waiting,
        "seconds": round(seconds, 3),
        "worker_concurrency": concurrency,
        "failed_tasks": log_text.count(b"raised unexpected"),
    }


# --- (c) In-process ----------------------------------------------------------------------------

# What the cProfile summary shows: (file ends with, function) -> label.
KEY_FUNCTIONS = [
    ("django/core/handlers/wsgi.py", "__call__", "whole request (WSGI handler)"),
    ("events/views.py", "track_api", "events/views.py:track_api"),
    ("json/__init__.py", "loads", "json.loads (request body)"),
    ("events/segment.py", "message_parse", "events/segment.py:message_parse"),
    ("core/apikeys.py", "api_key_check", "core/apikeys.py:api_key_check"),
    ("events/ingest.py", "events_ingest", "events/ingest.py:events_ingest"),
    ("events/identify.py", "identify_apply", "events/identify.py:identify_apply"),
    ("profiles/services.py", "profile_create", "profiles/services.py:profile_create"),
    ("profiles/services.py", "profile_update", "profiles/services.py:profile_update"),
    ("profiles/validation.py", "profile_data_clean", "profiles/validation.py:profile_data_clean"),
    ("events/customers.py", "aliases_store", "events/customers.py:aliases_store"),
    ("events/customers.py", "earlier_events_attach", "events/customers.py:earlier_events_attach"),
    ("events/segment.py", "dumps", "events/segment.py:dumps (the stored JSON)"),
    ("events/ingest.py", "_insert", "events/ingest.py:_insert (COPY + INSERT … SELECT)"),
    ("events/ingest.py", "_checkout_consent", "events/ingest.py:_checkout_consent"),
    ("consent/services/choices.py", "soft_opt_in_grant_many", "consent soft_opt_in_grant_many"),
    ("consent/services/ledger.py", "ledger_append_many", "consent ledger_append_many"),
    ("consent/services/ledger.py", "ledger_append", "consent ledger_append (one by one)"),
    ("events/rollup_queue.py", "rollups_request", "events/rollup_queue.py:rollups_request (Redis)"),
    ("django/db/transaction.py", "__exit__", "transaction commit/savepoint release"),
    ("psycopg/cursor.py", "execute", "psycopg Cursor.execute (all SQL, incl. server time)"),
]


def inprocess_measure(bodies: list[bytes], auth: str, *, profile_to: Path | None) -> dict[str, Any]:
    """Send the bodies one by one straight into Django's WSGI handler (the same middleware
    and view as under gunicorn), counting SQL statements; optionally under cProfile."""
    import io

    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    statuses: Counter = Counter()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses[int(status.split()[0])] += 1

    def call(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/batch",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": auth,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        response = handler(environ, start_response)
        b"".join(response)
        response.close()

    def send() -> None:
        for body in bodies:
            call(body)

    run = measure(send, profile=bool(profile_to))
    seconds, statements = run.seconds, run.statements
    events = sum(len(json.loads(b)["batch"]) for b in bodies)
    result: dict[str, Any] = {
        "profiled": bool(run.profiler),
        "batches": len(bodies),
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds),
        "ms_per_batch": round(seconds / len(bodies) * 1000, 1),
        "statuses": {str(k): v for k, v in statuses.items()},
        "statements": statements.count,
        "statements_per_batch": round(statements.count / len(bodies), 1),
        "statements_per_batch_by_kind": {
            k: round(v / len(bodies), 1) for k, v in sorted(statements.by_kind.items())
        },
        "execute_seconds": round(statements.seconds, 3),
        "execute_share": round(statements.seconds / seconds, 3),
    }
    if run.profiler and profile_to:
        import pstats

        run.profiler.dump_stats(profile_to)
        stats = pstats.Stats(run.profiler)
        total = 0.0
        shares = []
        for suffix, name, label in KEY_FUNCTIONS:
            cumulative = cumulative_seconds(stats, suffix, name)
            if label.startswith("whole request"):
                total = cumulative
            shares.append((label, cumulative))
        result["profile_shares"] = [
            {"function": label, "seconds": round(s, 3), "share": round(s / total, 3)}
            for label, s in shares
            if total
        ]
        result["profile_file"] = str(profile_to.relative_to(ROOT))
        result["profile_top_tottime"] = top(stats, "tottime", 25)
        result["profile_top_cumulative"] = top(stats, "cumulative", 40)
    return result


# --- (d) COPY baseline ----------------------------------------------------------------------------

COPY_COLUMNS = (
    "message_id, type, name, profile_id, user_id, anonymous_id, timestamp, received_at, "
    "properties, context"
)


def copy_baseline(url: str, prefix: str, repeat: int = 3) -> tuple[list[float], int]:
    """Seconds of `repeat` raw COPYs of exactly the rows the API stored for `prefix`
    (read back first), each time under fresh message ids, into the same events table."""
    import psycopg

    with psycopg.connect(url) as conn:
        stored = conn.execute(
            f"SELECT {COPY_COLUMNS.replace('properties', 'properties::text').replace('context', 'context::text')}"
            " FROM events_event WHERE message_id LIKE %s ORDER BY id",
            [prefix + "%"],
        ).fetchall()
        runs = [[(f"copy{r}-{row[0]}", *row[1:]) for row in stored] for r in range(repeat)]
        times = []
        for rows in runs:
            start = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY events_event ({COPY_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            times.append(time.perf_counter() - start)
        copied = conn.execute(
            "SELECT count(*) FROM events_event WHERE message_id LIKE 'copy%'"
        ).fetchone()
    if not copied or copied[0] != len(stored) * repeat:
        raise SystemExit(f"COPY baseline stored {copied} rows, not {len(stored) * repeat}")
    return times, len(stored)


# --- Checks --------------------------------------------------------------------------------------


def http_check(checks: Checks, run: HttpRun) -> None:
    checks.equal(f"{run.label}: batches never answered 200", run.sent.refused[:5], [])
    checks.equal(f"{run.label}: events stored", run.stored, run.events)
    errors = sum(v for k, v in run.sent.statuses.items() if k != 200)
    if errors:
        checks.failures.append(
            f"{run.label}: {errors} attempts answered otherwise than 200 "
            f"({dict(run.sent.statuses)}; the API promises never a 500)"
        )


def stored_check(
    checks: Checks, label: str, tag: str, messages: list[dict[str, Any]]
) -> dict[str, int]:
    """A sample compared field by field; every identified customer has a profile; how many
    events of identified customers were left without one."""
    from events.models import Event
    from profiles.models import Profile

    sample = random.Random(7).sample(range(len(messages)), min(300, len(messages)))
    stored = {
        e.message_id: e
        for e in Event.objects.filter(message_id__in=[messages[i]["messageId"] for i in sample])
    }
    for i in sample:
        m = messages[i]
        e = stored.get(m["messageId"])
        if e is None:
            checks.failures.append(f"{label}: message {m['messageId']} not stored")
            continue
        body = m.get("traits") if m["type"] == "identify" else m.get("properties", {})
        checks.equal(
            f"{label}: message {m['messageId']}",
            (e.type, e.name, e.user_id, e.anonymous_id, e.properties),
            (
                m["type"],
                m.get("event") or m.get("name") or "",
                m.get("userId", ""),
                m["anonymousId"],
                body,
            ),
        )
    identified = {m["userId"] for m in messages if m["type"] == "identify"}
    profiles = Profile.objects.filter(user_id__in=identified).count()
    checks.equal(f"{label}: profiles of the identified customers", profiles, len(identified))
    unattached = Event.objects.filter(
        message_id__startswith=f"{tag}-", user_id__in=identified, profile=None
    ).count()
    if unattached:
        checks.warnings.append(
            f"{label}: {unattached} events of identified customers have no profile (sent in a "
            "batch that ran concurrently with the one that created the customer)"
        )
    return {"identified_customers": len(identified), "unattached_events": unattached}


# --- Output ---------------------------------------------------------------------------------------


def report_print(meta: dict[str, Any], results: dict[str, Any]) -> None:
    main = results["api"]
    copy = results["copy"]
    print()
    print(
        f"Ingest of {meta['events']:,} events in batches of {meta['batch_size']} through "
        f"POST /api/v1/batch ({meta['routing']} routing); PostgreSQL {meta['postgresql']}, "
        f"{meta['cpus']} CPUs"
    )
    head = f"{'':44} {'seconds':>8} {'events/s':>9} {'x COPY':>7}"
    print(head)
    print("-" * len(head))
    for trial in results["trials"]:
        print(
            f"  trial: {trial['workers']} {trial['worker_class']} workers, {trial['clients']} clients, "
            f"{trial['events']:,} ev".ljust(44)
            + f" {trial['seconds']:8.2f} {trial['events_per_second']:9,} "
            f"{copy['events_per_second'] / trial['events_per_second']:7.1f}"
        )
    print(
        f"(a) API, {main['workers']} {main['worker_class']} workers, {main['clients']} clients".ljust(
            44
        )
        + f" {main['seconds']:8.2f} {main['events_per_second']:9,} {main['ratio_to_copy']:7.1f}"
    )
    if results.get("rollups"):
        r = results["rollups"]
        print(
            f"(b) roll-ups: {r['customers_waiting']:,} customers, {r['tasks']} tasks, "
            f"worker x{r['worker_concurrency']}".ljust(44)
            + f" {r['seconds']:8.2f}"
        )
        print(
            "    (a) + (b) one after the other".ljust(44)
            + f" {main['seconds'] + r['seconds']:8.2f} {r['events_per_second_incl_api']:9,} "
            f"{copy['events_per_second'] / r['events_per_second_incl_api']:7.1f}"
        )
    for key in ("inprocess", "inprocess_profiled", "inprocess_plain"):
        if results.get(key):
            p = results[key]
            label = "(c) in-process, 1 thread" + (", cProfile" if p["profiled"] else "")
            if key == "inprocess_plain":
                label = "    the same, only page and product views/adds"
            print(
                label.ljust(44) + f" {p['seconds']:8.2f} {p['events_per_second']:9,} "
                f"{copy['events_per_second'] / p['events_per_second']:7.1f}"
            )
    print(
        "(d) COPY baseline (same rows, same table)".ljust(44)
        + f" {copy['seconds']:8.2f} {copy['events_per_second']:9,} {1.0:7.1f}"
    )
    print()
    print(
        f"(a) latency per batch: p50 {main['latency_ms_p50']} ms, p95 {main['latency_ms_p95']} ms, "
        f"max {main['latency_ms_max']} ms; statuses {main['statuses']}, retries {main['retries']}"
    )
    cpu = main["cpu"]
    print(
        f"(a) CPU seconds over {cpu['wall_seconds']} s wall: gunicorn workers "
        f"{cpu['gunicorn_workers_cpu_seconds']}, PostgreSQL backends "
        f"{cpu['postgres_backends_cpu_seconds']}, client {cpu['client_cpu_seconds']}, other "
        f"processes {cpu['other_cpu_seconds']}; machine busy {cpu['machine_busy_share']:.0%}"
    )
    for key, what in (("inprocess", "(c)"), ("inprocess_plain", "(c) page/product only")):
        p = results[key]
        kinds = ", ".join(f"{k} {v}" for k, v in p["statements_per_batch_by_kind"].items())
        print(
            f"{what}: {p['ms_per_batch']} ms per batch of {meta['batch_size']}; "
            f"{p['statements_per_batch']} SQL statements per batch ({kinds}); "
            f"{p['execute_share']:.0%} of the time inside cursor.execute"
        )
    print(
        f"(d) COPY: median of {len(copy['samples'])} runs, {min(copy['samples']):.2f}–{max(copy['samples']):.2f} s"
    )
    prof = results.get("inprocess_profiled")
    if prof:
        print()
        print(f"cProfile of (c) (slower than unprofiled; saved to {prof['profile_file']}):")
        print("  share of the request time (cumulative, nested entries overlap):")
        for s in prof["profile_shares"]:
            print(f"    {s['share']:6.1%}  {s['seconds']:7.2f} s  {s['function']}")
        print("  top functions by own time:")
        for row in prof["profile_top_tottime"][:20]:
            print(
                f"    {row['tottime_share']:6.1%}  {row['tottime']:7.2f} s  "
                f"{row['calls']:>8} calls  {row['function']}"
            )
    print()
    rollups = "excluded from (a): queued on Redis, drained by a worker in (b)"
    if not meta["redis"]:
        rollups = "excluded: queued on an in-memory broker, never run"
    print(f"Roll-ups: {rollups}.")
    verdict = "met" if main["events_per_second"] >= TARGET_EVENTS_PER_SECOND else "NOT met"
    print(
        f"Target: at least {TARGET_EVENTS_PER_SECOND:,} events/s through the API: {verdict} "
        f"({main['events_per_second']:,}/s with {main['workers']} {main['worker_class']} workers)."
    )


# --- Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = parser_make("ingest", __doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events sent in (a) (50,000)")
    parser.add_argument("--batch-size", type=int, default=100, help="messages per batch (100)")
    parser.add_argument(
        "--workers",
        default="2,3,4",
        help="gunicorn worker counts to try; the fastest runs (a) (2,3,4)",
    )
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync)")
    parser.add_argument(
        "--routing",
        choices=("mixed", "per-customer"),
        default="mixed",
        help="mixed: any batch to any free client, so one customer's events can be in two "
        "batches at once (default); per-customer: a customer's events always through the "
        "same client",
    )
    parser.add_argument(
        "--clients", type=int, default=0, help="client threads (default: 2 per worker)"
    )
    parser.add_argument(
        "--trial-events", type=int, default=10_000, help="events per worker-count trial (10,000)"
    )
    parser.add_argument(
        "--inprocess-batches", type=int, default=50, help="batches sent in-process in (c) (50)"
    )
    parser.add_argument("--seed", type=int, default=20250101, help="seed of the generated events")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--no-rollups", action="store_true", help="skip (b)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile (c): when (a) misses the target (auto), always, or never",
    )
    keep_db_options(parser)
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]

    setup = setup_make(args.redis_url)
    lock = run_lock(setup.url)  # noqa: F841 - held until the process ends
    if setup.log.exists():
        setup.log.unlink()
    checks = Checks()
    results: dict[str, Any] = {"trials": []}
    with database_fresh(setup.url, keep=args.keep_db), queue_purged(setup):
        django_setup_as_servers(setup)
        from core.apikeys import api_key_create

        migrate()
        write_key = api_key_create(name="bench webshop", kind="write")[1]
        auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        postgresql = server_version()

        # Worker counts, each on a shorter run of its own fresh customers.
        trials: list[HttpRun] = []
        if len(worker_counts) > 1:
            for n, workers in enumerate(worker_counts):
                clients = args.clients or 2 * workers
                print(f"trial: {workers} workers, {clients} clients …", file=sys.stderr)
                trial, _server, _work = http_measure(
                    setup,
                    auth,
                    label=f"trial {workers} workers",
                    tag=f"t{workers}",
                    events=min(args.trial_events, args.events),
                    batch_size=args.batch_size,
                    workers=workers,
                    worker_class=args.worker_class,
                    clients=clients,
                    routing=args.routing,
                    seed=args.seed + 100 + n,
                    # as many customers as (a) has: contention as in (a)
                    customers=max(200, args.events // 20),
                )
                http_check(checks, trial)
                trials.append(trial)
                results["trials"].append(trial.as_dict())
            best = max(trials, key=lambda t: t.rate).workers
        else:
            best = worker_counts[0]
        queue_purge(setup)

        clients = args.clients or 2 * best
        print(
            f"(a) API: {args.events:,} events, {best} workers, {clients} clients …", file=sys.stderr
        )
        api, server, work = http_measure(
            setup,
            auth,
            label="(a) API",
            tag="m",
            events=args.events,
            batch_size=args.batch_size,
            workers=best,
            worker_class=args.worker_class,
            clients=clients,
            routing=args.routing,
            seed=args.seed,
            keep_running=True,
        )
        assert server is not None
        try:
            http_check(checks, api)
            # A retried batch changes nothing (messageId makes every call idempotent).
            first = bodies_make(work.messages[:100], 100, dt.datetime.now(dt.UTC))
            again = batches_send(server.port, auth, [first], 1)
            checks.equal("(a): the first batch sent again answers", dict(again.statuses), {200: 1})
            checks.equal("(a): events after sending a batch again", events_stored("m-"), api.stored)
        finally:
            server_stop(server)
        attach = stored_check(checks, "(a)", "m", work.messages)
        results["api"] = {**api.as_dict(), **attach}

        if setup.redis_url and not args.no_rollups:
            print(
                f"(b) roll-ups: draining {queue_length(setup)} tasks, "
                f"{rollups_waiting(setup):,} customers waiting …",
                file=sys.stderr,
            )
            rollups = rollups_drain(setup, concurrency=os.cpu_count() or 2)
            rollups["events_per_second_incl_api"] = round(
                args.events / (api.sent.seconds + rollups["seconds"])
            )
            if rollups["failed_tasks"]:
                checks.failures.append(f"(b): {rollups['failed_tasks']} roll-up tasks failed")
            results["rollups"] = rollups

        print("(c) in-process …", file=sys.stderr)
        n_inproc = args.inprocess_batches * args.batch_size
        base = dt.datetime.now(dt.UTC)
        inproc = messages_generate(n_inproc, seed=args.seed + 2, tag="c", base=base)
        inprocess_measure(
            bodies_make(inproc.existing, args.batch_size, base), auth, profile_to=None
        )
        results["inprocess"] = inprocess_measure(
            bodies_make(inproc.messages, args.batch_size, base), auth, profile_to=None
        )
        checks.equal(
            "(c): statuses", results["inprocess"]["statuses"], {"200": args.inprocess_batches}
        )
        checks.equal("(c): events stored", events_stored("c-"), n_inproc)
        # The same kind of traffic without identify calls and orders: the floor of the
        # pipeline for events that only need storing (and what those two cost on top).
        plain = messages_generate(n_inproc * 2, seed=args.seed + 4, tag="q", base=base)
        inprocess_measure(bodies_make(plain.existing, args.batch_size, base), auth, profile_to=None)
        plain_messages = [
            m for m in plain.messages if m["type"] == "page" or m.get("event") in PLAIN_EVENTS
        ][:n_inproc]
        results["inprocess_plain"] = inprocess_measure(
            bodies_make(plain_messages, args.batch_size, base), auth, profile_to=None
        )
        checks.equal("(c) plain: events stored", events_stored("q-"), len(plain_messages))
        if args.profile == "always" or (
            args.profile == "auto" and api.rate < TARGET_EVENTS_PER_SECOND
        ):
            print("(c) in-process under cProfile …", file=sys.stderr)
            prof = messages_generate(n_inproc, seed=args.seed + 3, tag="p", base=base)
            inprocess_measure(
                bodies_make(prof.existing, args.batch_size, base), auth, profile_to=None
            )
            results["inprocess_profiled"] = inprocess_measure(
                bodies_make(prof.messages, args.batch_size, base),
                auth,
                profile_to=RESULTS / "ingest.prof",
            )
        queue_purge(setup)

        print("(d) COPY baseline …", file=sys.stderr)
        copy_times, copied = copy_baseline(setup.url, "m-")
        checks.equal("(d): rows copied per run", copied, api.stored)
        copy_seconds = statistics.median(copy_times)
        results["copy"] = {
            "seconds": round(copy_seconds, 3),
            "events_per_second": round(copied / copy_seconds),
            "samples": [round(t, 3) for t in copy_times],
        }
        results["api"]["ratio_to_copy"] = round(results["copy"]["events_per_second"] / api.rate, 1)
        results["api"]["api_share_of_copy_rate"] = round(
            api.rate / results["copy"]["events_per_second"], 4
        )

    meta = {
        "events": args.events,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "worker_counts_tried": worker_counts,
        "worker_class": args.worker_class,
        "routing": args.routing,
        "redis": bool(setup.redis_url),
        "postgresql": postgresql,
        **run_meta(),
        "gunicorn": _version("gunicorn"),
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "rollups": "excluded from (a)",
    }
    report_print(meta, results)
    output = {
        **meta,
        "target_met": results["api"]["events_per_second"] >= TARGET_EVENTS_PER_SECOND,
        **results,
        "checks_failed": checks.failures,
        "warnings": checks.warnings,
    }
    for warning in checks.warnings:
        print(f"WARNING: {warning}")
    return results_finish("ingest", output, checks.failures)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""


if __name__ == "__main__":
    run_as_script(main)
