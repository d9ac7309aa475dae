"""Storing what the shop's systems report: a batch goes in whole or not at all."""

import contextlib
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from consent.models import Source
from consent.services import consent_withdraw, soft_opt_in_grant_many
from profiles.models import ChangeSource, Profile
from profiles.services import OWN_KEY_PREFIX, profile_create, profile_rekey, profile_update
from profiles.validation import language_normalise, timezone_validate
from profiles.webhooks import endpoints_read_once

from .models import Activity, Alias, Event
from .rollup_queue import rollups_request
from .segment import BadMessage, Message
from .spec import ORDER_COMPLETED

# A checkout that offered an opt-out, and whether the customer took it.
OPT_OUT_OFFERED = ("marketing_opt_out_offered", "optOutOffered", "opt_out_offered")
OPTED_OUT = ("marketing_opt_out", "optedOut", "opted_out")

# Identify traits that are profile fields; everything else becomes a custom attribute.
TRAIT_FIELDS = {
    "email": "email",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "birthday": "birth_date",
    "phone": "phone",
}
ADDRESS_FIELDS = {
    "street": "street",
    "houseNumber": "house_number",
    "house_number": "house_number",
    "postalCode": "postal_code",
    "postal_code": "postal_code",
    "city": "city",
    "country": "country",
}
# Traits that are read but not kept as custom attributes.
HANDLED_TRAITS = {*TRAIT_FIELDS, "address", "timezone", "locale", "language"}

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


def traits_to_profile_data(traits: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Profile fields from identify traits (and the context's time zone and locale).

    A browser's time zone or locale we cannot use is left out rather than refused; what
    the shop states explicitly as a trait is checked like any other input."""
    data: dict[str, Any] = {}
    for trait, field in TRAIT_FIELDS.items():
        if trait in traits and traits[trait] not in (None, ""):
            data[field] = traits[trait]
    if isinstance(data.get("birth_date"), str) and "T" in data["birth_date"]:
        data["birth_date"] = data["birth_date"].split("T", 1)[0]
    address = traits.get("address")
    if isinstance(address, dict):
        for key, field in ADDRESS_FIELDS.items():
            if address.get(key) not in (None, ""):
                data[field] = str(address[key])
    if traits.get("timezone"):
        data["timezone"] = traits["timezone"]
    elif context.get("timezone"):
        with contextlib.suppress(ValidationError):
            data["timezone"] = timezone_validate(context["timezone"])
    for locale in (traits.get("locale"), traits.get("language"), context.get("locale")):
        if locale:
            try:
                data["language"] = language_normalise(locale)
                break
            except ValidationError:
                continue
    custom = {k: v for k, v in traits.items() if k not in HANDLED_TRAITS}
    if custom:
        data["custom_attributes"] = custom
    return data


def _raise_for(message: Message, exc: ValidationError) -> None:
    """A refused trait, named as the caller wrote it (traits.email, traits.birthday …)."""
    reverse = {v: k for k, v in TRAIT_FIELDS.items()} | {
        v: f"address.{k}" for k, v in ADDRESS_FIELDS.items()
    }
    for name, messages in exc.message_dict.items():
        trait = reverse.get(name, name)
        raise BadMessage(" ".join(messages), field=f"traits.{trait}", index=message.index) from None


def _identify(
    message: Message, profiles: dict[str, Profile | Owner], now: dt.datetime
) -> Profile | None:
    """Create or update the customer from an identify call (the shop is trusted: an
    address change applies directly). A new user id without an address waits."""
    data = traits_to_profile_data(message.traits, message.context)
    found = profiles.get(message.user_id)
    # The batch's identified customers are read whole (_customers); a safeguard.
    profile = Profile.objects.get(pk=found.pk) if isinstance(found, Owner) else found
    try:
        if profile is None:
            if "email" not in data:
                return None
            waiting = Profile.objects.filter(
                email__lower=str(data["email"]).strip().lower(),
                user_id__startswith=OWN_KEY_PREFIX,
                erased_at=None,
            ).first()
            if waiting is not None:
                # Someone who subscribed on the site before the shop said who they are.
                profile = profile_rekey(
                    profile=waiting, user_id=message.user_id, source=ChangeSource.API, now=now
                )
                profiles[message.user_id] = profile
                profile_update(profile=profile, data=data, source=ChangeSource.API, now=now)
                return profile
            # Traits sent before the customer's address was known count too.
            earlier = Event.objects.filter(profile=None, user_id=message.user_id, type="identify")
            merged: dict[str, Any] = {}
            for traits, context in earlier.order_by("timestamp").values_list(
                "properties", "context"
            ):
                merged.update(traits_to_profile_data(traits, context))
            custom = {**merged.get("custom_attributes", {}), **data.get("custom_attributes", {})}
            data = {**merged, **data}
            if custom:
                data["custom_attributes"] = custom
            profile = profile_create(
                user_id=message.user_id, data=data, source=ChangeSource.API, now=now
            )
            profiles[message.user_id] = profile
        elif data:
            profile_update(profile=profile, data=data, source=ChangeSource.API, now=now)
    except ValidationError as exc:
        _raise_for(message, exc)
    return profile


def _owner(
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


def _aliases_store(links: dict[str, str], now: dt.datetime) -> dict[str, str]:
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


def _attach(owners: dict[str, Profile | Owner]) -> set[int]:
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


def _lock_customers(user_ids: set[str]) -> None:
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


def _customers(
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
    aliases, profiles = _customers(messages, user_ids, anonymous_ids)
    if missing := user_ids - profiles.keys():
        # Customers this batch may create (or whose events wait for them): take turns
        # with other batches about them, then look again. Known customers need no turn,
        # so a busy customer in every batch does not make the batches queue.
        _lock_customers(missing)
        profiles.update(_customers(messages, missing)[1])
    touched: set[int] = set()

    links: dict[str, str] = {}  # anonymous or earlier id → user id, as the batch says
    attach: dict[str, str] = {}  # id whose earlier events go to → user id
    for message in messages:
        if message.type == "identify" and message.user_id:
            _identify(message, profiles, now)
            if message.anonymous_id:
                links.setdefault(message.anonymous_id, message.user_id)
            for earlier in (message.anonymous_id, message.user_id):
                if earlier:
                    attach.setdefault(earlier, message.user_id)
        elif message.type == "alias":
            links.setdefault(message.previous_id, message.user_id)
            attach.setdefault(message.previous_id, message.user_id)
    aliases.update(_aliases_store(links, now))
    # The customers the batch's anonymous visitors were linked to (before, or by the
    # batch itself when an earlier link stands).
    if linked := set(aliases.values()) - profiles.keys():
        profiles.update(_customers([], linked)[1])
    touched |= _attach(
        {earlier: profiles[user_id] for earlier, user_id in attach.items() if user_id in profiles}
    )

    rows = []
    owners: dict[str, Profile | Owner | None] = {}
    for m in messages:
        owner = _owner(m, profiles, aliases)
        owners[m.message_id] = owner
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
    new_ids = _insert(rows) if rows else set()

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


def _checkout_consent(orders: list[tuple[Profile, Message]], now: dt.datetime) -> None:
    """Orders whose checkout offered an opt-out: the soft opt-in, or the customer's no —
    in the batch's order, the soft opt-ins between two noes granted together."""
    from consent.models import Category, Topic

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


def events_erase(profile: Profile, now: dt.datetime, email: str) -> None:
    """Erasure: events keep only what they were and when (for the shop's figures); their
    properties, context and ids go, and so does everything events derived about the person."""
    events = Event.objects.filter(profile=profile)
    ids = set(events.exclude(anonymous_id="").values_list("anonymous_id", flat=True))
    Alias.objects.filter(user_id=profile.user_id).delete()
    Alias.objects.filter(previous_id__in=ids).delete()
    # An order keeps what it was worth (no one's data, and the shop's revenue figures
    # stay whole); every other property goes.
    for event in events.filter(name=ORDER_COMPLETED).only("pk", "properties"):
        kept = {
            k: event.properties[k]
            for k in ("total", "revenue", "currency")
            if k in event.properties
        }
        Event.objects.filter(pk=event.pk).update(properties=kept)
    events.exclude(name=ORDER_COMPLETED).update(properties={})
    events.update(context={}, user_id="", anonymous_id="")
    Activity.objects.filter(profile=profile).delete()
