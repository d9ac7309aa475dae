"""Storing what the shop's systems report: a batch goes in whole or not at all.

The steps of one batch, each a few set-based statements: find its customers (taking
turns about customers it may create), apply its identify and alias calls, store every
message with one bulk write (a repeated message id is skipped by the unique constraint),
give orders their consent side (the soft opt-in), and, after commit, ask for the
customers' roll-ups (events/rollup_queue.py).
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from consent.models import Category, Source, Topic
from consent.services import consent_withdraw, soft_opt_in_grant_many
from profiles.models import Profile
from profiles.webhooks import endpoints_read_once

from .customers import (
    Owner,
    aliases_store,
    customers_find,
    customers_lock,
    earlier_events_attach,
    owner_of,
)
from .identify import identify_apply
from .rollup_queue import rollups_request
from .segment import Message
from .spec import ORDER_COMPLETED

# A checkout that offered an opt-out, and whether the customer took it.
OPT_OUT_OFFERED = ("marketing_opt_out_offered", "optOutOffered", "opt_out_offered")

OPTED_OUT = ("marketing_opt_out", "optedOut", "opted_out")


@transaction.atomic
def events_ingest(*, messages: Sequence[Message], received_at: dt.datetime) -> int:
    """Store a checked batch: identify and alias calls update customers, every message is
    kept as an event (one bulk write for the batch), repeats of a message id change nothing,
    and the roll-ups of the customers concerned are refreshed after commit.

    Refuses the whole batch (BadMessage) when a trait is invalid: nothing is stored.
    Returns the number of new events.
    """
    with endpoints_read_once():  # many changes, one look at the webhook endpoints
        return _ingest(messages, received_at)


def _ingest(messages: Sequence[Message], received_at: dt.datetime) -> int:
    now = received_at
    anonymous_ids = {m.anonymous_id for m in messages if m.anonymous_id and not m.user_id}
    user_ids = {m.user_id for m in messages if m.user_id}
    aliases, profiles = customers_find(messages, user_ids, anonymous_ids)
    if missing := user_ids - profiles.keys():
        # Customers this batch may create (or whose events wait for them): take turns
        # with other batches about them, then look again. Known customers need no turn,
        # so a busy customer in every batch does not make the batches queue.
        customers_lock(missing)
        profiles.update(customers_find(messages, missing)[1])
    touched = _identify_and_link(messages, profiles, aliases, now)
    owners = {m.message_id: owner_of(m, profiles, aliases) for m in messages}
    new_ids = _store(messages, owners, received_at)
    orders = []
    for m in messages:
        owner = owners[m.message_id]
        if owner is None or m.message_id not in new_ids:
            continue
        touched.add(owner.pk)
        if m.type == "track" and m.name == ORDER_COMPLETED:
            orders.append((owner if isinstance(owner, Profile) else owner.as_profile(), m))
    if orders:
        _checkout_consent(orders, now)
    if touched:
        ids = sorted(touched)
        # robust: the batch is stored whatever happens here; a broker that is down must
        # not turn its answer into a 500 (a retry would store nothing to refresh).
        transaction.on_commit(lambda: rollups_request(ids), robust=True)
    return len(new_ids)


def _identify_and_link(
    messages: Sequence[Message],
    profiles: dict[str, Profile | Owner],
    aliases: dict[str, str],
    now: dt.datetime,
) -> set[int]:
    """Apply the batch's identify calls (creating or changing customers in `profiles`),
    keep the links its identify and alias calls make (into `aliases`), and give the
    customers the events they made before; the customers concerned."""
    links: dict[str, str] = {}  # anonymous or earlier id → user id, as the batch says
    attach: dict[str, str] = {}  # id whose earlier events go to → user id
    for message in messages:
        if message.type == "identify" and message.user_id:
            identify_apply(message, profiles, now)
            if message.anonymous_id:
                links.setdefault(message.anonymous_id, message.user_id)
            for earlier in (message.anonymous_id, message.user_id):
                if earlier:
                    attach.setdefault(earlier, message.user_id)
        elif message.type == "alias":
            links.setdefault(message.previous_id, message.user_id)
            attach.setdefault(message.previous_id, message.user_id)
    aliases.update(aliases_store(links, now))
    # The customers the batch's anonymous visitors were linked to (before, or by the
    # batch itself when an earlier link stands).
    if linked := set(aliases.values()) - profiles.keys():
        profiles.update(customers_find([], linked)[1])
    return earlier_events_attach(
        {earlier: profiles[user_id] for earlier, user_id in attach.items() if user_id in profiles}
    )


def _store(
    messages: Sequence[Message],
    owners: dict[str, Profile | Owner | None],
    received_at: dt.datetime,
) -> set[str]:
    """Every message as an event row, with its customer when known; the new message ids."""
    rows = []
    for m in messages:
        owner = owners[m.message_id]
        rows.append(
            (
                m.message_id,
                m.type,
                m.name,
                owner.pk if owner else None,
                owner.user_id if owner else m.user_id,
                m.anonymous_id,
                m.timestamp,
                received_at,
                m.body_json,
                m.context_json,
            )
        )
    return _insert(rows) if rows else set()


EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "profile_id",
    "user_id",
    "anonymous_id",
    "timestamp",
    "received_at",
    "properties",
    "context",
)


def _insert(rows: list[tuple[Any, ...]]) -> set[str]:
    """One bulk write for the whole batch; a message id seen before is skipped by the
    unique constraint (not by a look-up, which could race). Returns the new ids.

    PostgreSQL: COPY into a temporary table of this connection, then one INSERT … SELECT
    … ON CONFLICT DO NOTHING (a multi-row INSERT of 1,000 parameters took twice as long,
    most of it spent turning the parameters into SQL text). SQLite: a multi-row INSERT."""
    columns = ", ".join(EVENT_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Made once per connection (and again after a rolled-back batch took it
            # along); emptied by every commit. (Rows left by an earlier batch in the same
            # transaction, as in tests, are already in events_event: they conflict.)
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS events_incoming ON COMMIT DELETE ROWS"  # noqa: S608
                f" AS SELECT {columns} FROM events_event WITH NO DATA"
            )
            with cursor.cursor.copy(f"COPY events_incoming ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO events_event ({columns}) SELECT {columns} FROM events_incoming"  # noqa: S608
                " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
            )
            return {row[0] for row in cursor.fetchall()}
        placeholder = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
        # Only placeholders go into the SQL text; every value is a parameter.
        cursor.execute(
            f"INSERT INTO events_event ({columns}) VALUES "  # noqa: S608
            + ", ".join([placeholder] * len(rows))
            + " ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            [value for row in rows for value in row],
        )
        return {row[0] for row in cursor.fetchall()}


def _checkout_consent(orders: list[tuple[Profile, Message]], now: dt.datetime) -> None:
    """Orders whose checkout offered an opt-out: the soft opt-in, or the customer's no —
    in the batch's order, the soft opt-ins between two noes granted together."""

    grants: list[tuple[Profile, str]] = []
    for profile, message in orders:
        props = message.properties
        if any(props.get(key) is True for key in OPTED_OUT):
            soft_opt_in_grant_many(grants, now=now, source=Source.ORDER)
            grants = []
            for topic in Topic.objects.filter(
                category=Category.COMMERCIAL, soft_opt_in_allowed=True
            ):
                consent_withdraw(profile=profile, topic=topic, now=now, source=Source.ORDER)
        elif any(props.get(key) is True for key in OPT_OUT_OFFERED):
            order = props.get("order_id") or props.get("orderId") or ""
            grants.append((profile, f"order {order}".strip()))
    soft_opt_in_grant_many(grants, now=now, source=Source.ORDER)
