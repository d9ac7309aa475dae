"""Changes flow back to the shop's own systems: outgoing webhooks.

Every change made in Klantbeeld (a customer on the preference page, a marketer in the
admin, an import, an erasure, a permission given or withdrawn) writes one outbox row per
interested endpoint *in the same transaction as the change* (`webhooks_emit`). After the
commit a Celery task posts the due rows (`webhooks_deliver_due`); beat runs the same task
every minute, so a receiver that is down for hours gets everything once it is back:
each row is retried with a growing pause until it is delivered or older than
`WEBHOOK_GIVE_UP_HOURS` (72 h by default), when it is marked given up (and can be retried
from the admin).

The request (documented in the README):

    POST <url>
    Content-Type: application/json
    Klantbeeld-Event: profile.updated
    Klantbeeld-Delivery: <event id, the same on every retry: deduplicate on it>
    Klantbeeld-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

    {"id": "...", "type": "profile.updated", "occurred_at": "...", "data": {...}}

Any 2xx answer counts as delivered; redirects are not followed. Deliveries of one
endpoint are attempted oldest first, but a retried one can arrive after a later one:
order by `occurred_at`.
"""

import contextlib
import contextvars
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from core.net import TargetRefused, public_session, url_check
from core.queue import task_queue

from .models import Profile, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

API_SOURCE = "api"  # ChangeSource.API and consent's Source.API: the shop's own systems
USER_AGENT = "Klantbeeld-Webhooks/1"
# Pause after the n-th failed attempt; the last one repeats until the give-up age.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=3),
    dt.timedelta(hours=6),
)
# While a worker posts a delivery, no other worker may pick it up; a worker that dies
# mid-post leaves it to be retried once this has passed.
LEASE = dt.timedelta(minutes=2)
SWEEP_BATCH = 500


# Inside endpoints_read_once(): a holder for the active endpoints, filled by the first
# change that asks. Outside it (None) every change reads them.
_endpoints_cache: contextvars.ContextVar[dict[str, list[WebhookEndpoint]] | None] = (
    contextvars.ContextVar("webhook_endpoints", default=None)
)


@contextlib.contextmanager
def endpoints_read_once() -> Iterator[None]:
    """Inside one unit of work that makes many changes in one transaction (an event
    batch), read the active endpoints once instead of once per change; an endpoint added
    meanwhile hears from the next unit."""
    token = _endpoints_cache.set({})
    try:
        yield
    finally:
        _endpoints_cache.reset(token)


def _active_endpoints() -> list[WebhookEndpoint]:
    holder = _endpoints_cache.get()
    if holder is None:
        return list(WebhookEndpoint.objects.filter(active=True))
    if "active" not in holder:
        holder["active"] = list(WebhookEndpoint.objects.filter(active=True))
    return holder["active"]


def _endpoints_for(event: str, source: str) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in _active_endpoints()
        if event in endpoint.events and (source != API_SOURCE or endpoint.include_api_changes)
    ]


def webhooks_emit_many(
    items: Iterable[tuple[str, int | None, Mapping[str, Any]]],
    *,
    source: str,
    now: dt.datetime,
) -> int:
    """Queue (event, profile id, data) changes for every endpoint that wants them; call it
    inside the transaction that makes the change. Returns the number of rows queued."""
    items = list(items)
    if not items:
        return 0
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    rows = []
    for event, profile_id, data in items:
        if event not in endpoints:
            endpoints[event] = _endpoints_for(event, source)
        for endpoint in endpoints[event]:
            row = WebhookDelivery(
                endpoint=endpoint,
                event=event,
                profile_id=profile_id,
                created_at=now,
                next_attempt_at=now,
            )
            row.payload = {
                "id": str(row.event_id),
                "type": event,
                "occurred_at": now.isoformat(),
                "data": {**data, "source": source},
            }
            rows.append(row)
    if not rows:
        return 0
    WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    task_queue("profiles.tasks.deliver_webhooks")
    return len(rows)


def webhooks_emit(
    event: str,
    *,
    profile: Profile | None,
    data: Mapping[str, Any],
    source: str,
    now: dt.datetime,
) -> int:
    return webhooks_emit_many(
        [(event, profile.pk if profile else None, data)], source=source, now=now
    )


def profile_changes_emit(
    changed: Iterable[tuple[Profile, bool, Mapping[str, list[Any]]]],
    *,
    source: str,
    now: dt.datetime,
) -> int:
    """The change history's twin: (profile, created, {field: [old, new]}) → webhooks."""
    items = []
    for profile, created, changes in changed:
        if created:
            event = WebhookEvent.PROFILE_CREATED
            data: dict[str, Any] = {
                "user_id": profile.user_id,
                "profile": {field: new for field, (_old, new) in changes.items()},
            }
        else:
            event = WebhookEvent.PROFILE_UPDATED
            data = {
                "user_id": profile.user_id,
                "changes": {
                    field: {"from": old, "to": new} for field, (old, new) in changes.items()
                },
            }
        items.append((str(event), profile.pk, data))
    return webhooks_emit_many(items, source=source, now=now)


def webhooks_erase(*, profile: Profile) -> int:
    """Erasure: what is still waiting for this person is not sent, and no delivery in the
    log keeps their data. Returns the rows touched."""
    touched = WebhookDelivery.objects.filter(
        profile=profile, status=WebhookDelivery.Status.PENDING
    ).update(status=WebhookDelivery.Status.CANCELLED, next_attempt_at=None, payload={})
    return touched + WebhookDelivery.objects.filter(profile=profile).exclude(payload={}).update(
        payload={}
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Klantbeeld-Signature header value; the receiver recomputes and compares it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _backoff(attempts: int) -> dt.timedelta:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def webhook_deliver(delivery_id: int, *, now: dt.datetime | None = None) -> str:
    """Post one delivery if it is due and nobody else is posting it. Returns what happened:
    delivered, retry, failed or skipped."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Klantbeeld-Event": delivery.event,
        "Klantbeeld-Delivery": str(delivery.event_id),
        "Klantbeeld-Signature": signature(endpoint.secret, int(now.timestamp()), body),
    }
    status_code: int | None = None
    try:
        # Only to a public address, checked again now (DNS may have changed since the URL
        # was saved) and pinned for the connection (core.net).
        url_check(endpoint.url)
        response = public_session().post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        error = "" if 200 <= status_code < 300 else f"HTTP {status_code}"
    except TargetRefused:
        error = "refused: not a public address"
    except requests.RequestException as exc:
        # The class name says enough (refused, timed out, TLS); the message could carry
        # the URL's query string, which may hold a token.
        error = type(exc).__name__
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            next_attempt_at=None,
            response_status=status_code,
            error="",
        )
        return "delivered"
    next_attempt = now + _backoff(delivery.attempts)
    give_up = delivery.created_at + dt.timedelta(hours=settings.WEBHOOK_GIVE_UP_HOURS)
    failed = next_attempt > give_up
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED if failed else WebhookDelivery.Status.PENDING,
        next_attempt_at=None if failed else next_attempt,
        response_status=status_code,
        error=error,
    )
    logger.warning(
        "webhook %s delivery %s attempt %s: %s%s",
        endpoint.pk,
        delivery.pk,
        delivery.attempts,
        error,
        " (given up)" if failed else "",
    )
    return "failed" if failed else "retry"


def webhooks_deliver_due(*, now: dt.datetime | None = None, limit: int = SWEEP_BATCH) -> dict:
    """Post what is due, oldest first. An endpoint that fails is left alone for the rest
    of this round, so a receiver that is down gets one request a round, not hundreds."""
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__active=True,
        )
        .order_by("id")
        .values_list("id", "endpoint_id")[:limit]
    )
    failing: set[int] = set()
    counts: dict[str, int] = {}
    for delivery_id, endpoint_id in list(due):
        if endpoint_id in failing:
            continue
        outcome = webhook_deliver(delivery_id, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in ("retry", "failed"):
            failing.add(endpoint_id)
    return counts


def webhooks_retry(deliveries: Iterable[WebhookDelivery], *, now: dt.datetime) -> int:
    """The admin's "try again now" for given-up or waiting deliveries (not erased ones)."""
    ids = [d.pk for d in deliveries]
    count = WebhookDelivery.objects.filter(
        pk__in=ids,
        status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PENDING],
    ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now)
    if count:
        task_queue("profiles.tasks.deliver_webhooks")
    return count


def webhook_ping(endpoint: WebhookEndpoint, *, now: dt.datetime) -> WebhookDelivery:
    """A test request to one endpoint, from the admin."""
    row = WebhookDelivery(
        endpoint=endpoint, event=WebhookEvent.PING, created_at=now, next_attempt_at=now
    )
    row.payload = {
        "id": str(row.event_id),
        "type": str(WebhookEvent.PING),
        "occurred_at": now.isoformat(),
        "data": {},
    }
    row.save()
    task_queue("profiles.tasks.deliver_webhooks")
    return row


def webhook_log_tidy(*, now: dt.datetime) -> int:
    """Daily: the delivery log keeps finished rows for WEBHOOK_LOG_DAYS."""
    cutoff = now - dt.timedelta(days=settings.WEBHOOK_LOG_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.PENDING)
        .filter(created_at__lt=cutoff)
        .delete()
    )
    return deleted
