"""Whom a batch's events belong to: the customers of its user ids, the links of its
anonymous visitors (and the links the batch itself makes), and the earlier events that
join a customer once the batch says who they are. Set-based: a few statements per batch,
whatever its size."""

import datetime as dt
from collections.abc import Collection, Sequence
from typing import NamedTuple

from django.db import connection

from profiles.models import Profile

from .models import Alias
from .segment import Message

# What the consent side of an order reads of the customer.
ORDER_FIELDS = ("id", "user_id", "email", "erased_at")

_ORDER_ATTNAMES = [f.attname for f in Profile._meta.concrete_fields if f.attname in ORDER_FIELDS]


class Owner(NamedTuple):
    """A known (live) customer an event belongs to, when the batch does not change them."""

    pk: int
    user_id: str
    email: str

    def as_profile(self) -> Profile:
        """The customer as the consent side of an order reads them, without a second look
        at the database: a profile with only ORDER_FIELDS loaded (the rest deferred, so
        a save could only ever write those)."""
        known = {"id": self.pk, "user_id": self.user_id, "email": self.email, "erased_at": None}
        return Profile.from_db(
            connection.alias, ORDER_FIELDS, [known[name] for name in _ORDER_ATTNAMES]
        )


def customers_find(
    messages: Sequence[Message], user_ids: set[str], anonymous_ids: set[str] | None = None
) -> tuple[dict[str, str], dict[str, Profile | Owner]]:
    """The links of the batch's anonymous visitors, and its live customers by user id (with
    those the links point to): the whole profile for those with an identify call (it may
    change them), only their id and address for the rest."""
    aliases, known = _known(anonymous_ids or set(), user_ids)
    profiles: dict[str, Profile | Owner] = dict(known)
    if whole := {m.user_id for m in messages if m.type == "identify"} & known.keys():
        # (Erased ones left out here, not in SQL: see _known.)
        found = {
            p.user_id: p for p in Profile.objects.filter(user_id__in=whole) if p.erased_at is None
        }
        for user_id in whole:
            if user_id in found:
                profiles[user_id] = found[user_id]
            else:  # erased in between
                del profiles[user_id]
    return aliases, profiles


def owner_of(
    message: Message, profiles: dict[str, Profile | Owner], aliases: dict[str, str]
) -> Profile | Owner | None:
    if message.user_id:
        return profiles.get(message.user_id)
    user_id = aliases.get(message.anonymous_id)
    return profiles.get(user_id) if user_id else None


def _in(values: Collection[str]) -> tuple[str, list[str]]:
    """An IN list of placeholders for `values` (never empty: IN () is not SQL)."""
    if not values:
        return "(NULL)", []
    return "(" + ", ".join(["%s"] * len(values)) + ")", list(values)


def _known(anonymous_ids: set[str], user_ids: set[str]) -> tuple[dict[str, str], dict[str, Owner]]:
    """One look for the whole batch: the links its anonymous visitors have (an anonymous
    id → a user id), and the live customers of its user ids and of those links (id, user
    id, address). Written as SQL: one statement instead of three ORM queries.

    Each branch can only be an index scan, whatever the planner believes of the tables
    (a fresh install's are never analysed yet): the links' targets are worked out first
    (ARRAY(…) on PostgreSQL), and erased customers are left out here rather than in SQL,
    where `erased_at IS NULL` drew the planner to a partial index over every customer
    (22 ms a batch at 10,000 customers; one OR of both lists read the whole table)."""
    if not anonymous_ids and not user_ids:
        return {}, {}
    anonymous_in, anonymous = _in(anonymous_ids)
    users_in, users = _in(user_ids)
    targets = f"SELECT user_id FROM events_alias WHERE previous_id IN {anonymous_in}"  # noqa: S608
    if connection.vendor == "postgresql":
        targets_where = f"user_id = ANY(ARRAY({targets}))"  # worked out first, then the index
    else:
        targets_where = f"user_id IN ({targets})"
    # Only placeholders go into the SQL text; every value is a parameter.
    sql = (
        f"SELECT 'a', previous_id, user_id, NULL, NULL FROM events_alias WHERE previous_id IN {anonymous_in}"  # noqa: S608
        " UNION ALL SELECT 'p', user_id, email, id, erased_at FROM profiles_profile"
        f" WHERE user_id IN {users_in}"
        " UNION ALL SELECT 'p', user_id, email, id, erased_at FROM profiles_profile"
        f" WHERE {targets_where}"
    )
    aliases: dict[str, str] = {}
    owners: dict[str, Owner] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*anonymous, *users, *anonymous])
        for kind, key, value, pk, erased_at in cursor.fetchall():
            if kind == "a":
                aliases[key] = value
            elif erased_at is None:
                owners[key] = Owner(pk, key, value)
    return aliases, owners


def aliases_store(links: dict[str, str], now: dt.datetime) -> dict[str, str]:
    """Keep the batch's new links (an anonymous or earlier id → a user id) and return what
    the table now says for them: the first link ever made for an id stands.

    PostgreSQL: one statement, the new rows from RETURNING and the ones already there
    from the statement's snapshot; a link another batch committed while this one waited
    on it is in neither, and is read afterwards."""
    if not links:
        return {}
    if connection.vendor != "postgresql":
        Alias.objects.bulk_create(
            [Alias(previous_id=previous, user_id=user_id) for previous, user_id in links.items()],
            ignore_conflicts=True,
        )
        return _aliases_read(links)
    previous, users = list(links), list(links.values())
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH new AS (INSERT INTO events_alias (previous_id, user_id, created_at)"
            " SELECT p, u, %s FROM unnest(%s::text[], %s::text[]) AS t(p, u)"
            " ON CONFLICT (previous_id) DO NOTHING RETURNING previous_id, user_id)"
            " SELECT previous_id, user_id FROM new UNION ALL"
            " SELECT previous_id, user_id FROM events_alias WHERE previous_id = ANY(%s)",
            [now, previous, users, previous],
        )
        stored = dict(cursor.fetchall())
    if late := links.keys() - stored.keys():
        stored.update(_aliases_read(late))
    return stored


def _aliases_read(previous_ids: Collection[str]) -> dict[str, str]:
    return dict(
        Alias.objects.filter(previous_id__in=list(previous_ids)).values_list(
            "previous_id", "user_id"
        )
    )


def earlier_events_attach(owners: dict[str, Profile | Owner]) -> set[int]:
    """Give customers the events they made before we knew them (a basket filled before
    login counts): `owners` maps an anonymous id or earlier user id to its customer. Two
    UPDATEs for the whole batch (written as SQL: Django's CASE per id costs more to build
    than the update takes); returns the customers concerned."""
    if not owners:
        return set()
    values = ", ".join(["(%s, %s, %s)"] * len(owners))
    keys_in, keys = _in(owners)
    params = [value for key, p in owners.items() for value in (key, p.pk, p.user_id)]
    # Only placeholders go into the SQL text; every value is a parameter. The IN list
    # keeps the scan on the partial index of unattached events whatever the planner
    # thinks of the join (stale statistics made it hash-join every unattached event).
    with connection.cursor() as cursor:
        for column, also_user_id in (("anonymous_id", True), ("user_id", False)):
            assign = "profile_id = v.pid" + (", user_id = v.uid" if also_user_id else "")
            cursor.execute(
                f"WITH v(k, pid, uid) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE events_event SET {assign} FROM v "
                f"WHERE events_event.profile_id IS NULL AND events_event.{column} IN {keys_in} "
                f"AND events_event.{column} = v.k AND events_event.{column} <> ''",
                [*params, *keys],
            )
    return {profile.pk for profile in owners.values()}


def customers_lock(user_ids: set[str]) -> None:
    """Two batches about the same customer not known yet take turns (PostgreSQL: a
    transaction-level advisory lock per user id, taken in one fixed order, so they cannot
    deadlock): the second sees the customer the first created instead of failing to
    create it again, and an event that waits for its customer is either in the table
    before the identify that attaches it or sees the customer it made. SQLite runs one
    writer at a time anyway."""
    if connection.vendor != "postgresql" or not user_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM ("
            " SELECT DISTINCT hashtextextended(u, 0) AS k FROM unnest(%s::text[]) AS u"
            " ORDER BY k) AS keys",
            [sorted(user_ids)],
        )
