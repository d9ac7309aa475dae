"""Writes to the master list: creating, changing and re-keying a customer. Every change
goes through here and into the history."""

import datetime as dt
import decimal
import functools
import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.fields import Country

from .. import registry
from ..models import (
    Profile,
    ProfileChange,
)
from ..validation import profile_data_clean
from ..validation import user_id_clean as _user_id_clean
from ..webhooks import profile_changes_emit


def history_value(value: Any) -> Any:
    """A field value as the history stores it (JSON)."""
    if type(value) is str:  # the common case; an import asks millions of times
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Country):
        return str(value)  # its code
    return value


def email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    qs = Profile.objects.filter(email__lower=email.lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


class AddressTaken(ValidationError):
    """The address belongs to another customer."""


def email_taken_error() -> ValidationError:
    return AddressTaken({"email": _("This email address already belongs to another customer.")})


def _save(profile: Profile, *, update_fields: list[str] | None = None) -> None:
    """Save inside a savepoint; the unique email index is the last word on races.

    An update that touches neither unique column (address, user id) cannot be refused by
    the database, so it needs no savepoint: an event batch's identify that changes a
    trait sends no SAVEPOINT and RELEASE."""
    if update_fields is not None and not {"email", "user_id"} & set(update_fields):
        profile.save(update_fields=update_fields)
        return
    try:
        with transaction.atomic():
            profile.save(update_fields=update_fields)
    except IntegrityError as exc:
        field = _refused_field(exc)
        if field == "email":
            raise email_taken_error() from exc
        if field == "user_id":
            raise ValidationError(
                {"user_id": _("A customer with this user id already exists.")}, code="unique"
            ) from exc
        raise


@functools.cache
def _unique_fields() -> dict[str, str]:
    """The profile table's unique constraints (by the name the database gives them) and
    the field each is about."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Profile._meta.db_table)
    fields = {
        name: columns[0]
        for name, spec in constraints.items()
        if spec["unique"] and len(columns := spec["columns"] or []) == 1 and columns[0]
    }
    return {**fields, "profile_email_unique_ci": "email"}  # on LOWER(email): no column


def _refused_field(exc: IntegrityError) -> str | None:
    """The field whose unique constraint refused a save: from the name of the constraint
    the database reports (PostgreSQL's diagnostics; SQLite names the index or the
    column), never from words in the values the message quotes."""
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if name is None:
        sqlite = re.search(r"UNIQUE constraint failed: (?:index '([^']+)'|\w+\.(\w+))", str(exc))
        name = sqlite and (sqlite[1] or sqlite[2])
    if not name:
        return None
    return _unique_fields().get(name, name if name in ("email", "user_id") else None)


@transaction.atomic
def profile_create(
    *,
    user_id: str,
    data: Mapping[str, Any],
    source: str,
    actor: User | None = None,
    now: dt.datetime | None = None,
    note: str = "",
) -> Profile:
    """Create a profile from raw data; refuses a taken user id or address, and any bad field.

    Records the creation, with every value given, in the change history.
    """
    now = now or timezone.now()
    user_id = _user_id_clean(user_id)
    clean = profile_data_clean(data, today=timezone.localdate(now), require_email=True)
    if Profile.objects.filter(user_id=user_id).exists():
        raise ValidationError(
            {"user_id": _("A customer with this user id already exists.")}, code="unique"
        )
    if email_taken(clean["email"]):
        raise email_taken_error()
    profile = Profile(user_id=user_id, **clean)
    _save(profile)
    ProfileChange.objects.create(
        profile=profile,
        changed_at=now,
        source=source,
        actor=actor,
        created=True,
        note=note,
        changes=creation_changes(clean),
    )
    registry.address_changed([profile])
    profile_changes_emit([(profile, True, creation_changes(clean))], source=source, now=now)
    return profile


def creation_changes(clean: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What a new profile's first history row records: every value given, from nothing."""
    return {
        field: [None, history_value(value)]
        for field, value in clean.items()
        if value not in ("", None, {})
    }


def changes_apply(profile: Profile, clean: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Set the clean values on the profile; return {field: [old, new]} for real changes."""
    changes: dict[str, list[Any]] = {}
    for field, new in clean.items():
        if field == "custom_attributes":
            old_attrs = dict(profile.custom_attributes or {})
            merged = {**old_attrs, **new}
            merged = {k: v for k, v in merged.items() if v is not None}
            if merged != old_attrs:
                changes[field] = [old_attrs, merged]
                profile.custom_attributes = merged
            continue
        old = getattr(profile, field)
        old_value, new_value = history_value(old), history_value(new)
        if old_value != new_value:
            changes[field] = [old_value, new_value]
            setattr(profile, field, new)
    return changes


def profile_update(
    *,
    profile: Profile,
    data: Mapping[str, Any],
    source: str,
    actor: User | None = None,
    now: dt.datetime | None = None,
    note: str = "",
) -> dict[str, list[Any]]:
    """Change the given fields; returns what changed as {field: [old, new]}.

    Custom attributes merge (a None value removes a key). Refuses a bad field, an address
    that belongs to someone else, and any attempt to clear the address; on refusal nothing
    is saved. An unchanged value writes no history.
    """
    now = now or timezone.now()
    clean = profile_data_clean(
        data,
        today=timezone.localdate(now),
        country_default=str(profile.country),
        postal_code_current=profile.postal_code,
    )
    if (
        "email" in clean
        and clean["email"] != profile.email
        and email_taken(clean["email"], exclude_pk=profile.pk)
    ):
        raise email_taken_error()
    changes = changes_apply(profile, clean)
    if not changes:
        return {}  # nothing to write: no transaction either (an event batch's identify)
    # A savepoint only where the database may still refuse the write (an address taken
    # by a concurrent writer), so that a caller going on after a refusal (an import)
    # keeps its transaction; any other change is validated already.
    with transaction.atomic(savepoint="email" in changes):
        _save(profile, update_fields=[*changes, "updated_at"])
        ProfileChange.objects.create(
            profile=profile, changed_at=now, source=source, actor=actor, changes=changes, note=note
        )
        if "email" in changes:
            registry.address_changed([profile])
        profile_changes_emit([(profile, False, changes)], source=source, now=now)
    return changes


def profile_upsert(
    *,
    user_id: str,
    data: Mapping[str, Any],
    source: str,
    actor: User | None = None,
    now: dt.datetime | None = None,
    note: str = "",
) -> tuple[Profile, bool, dict[str, list[Any]]]:
    """Create the profile for `user_id`, or update it with `data`; returns (profile,
    created, what changed).

    Safe under concurrency: when another writer creates the same customer between our
    look-up and our insert, this call updates the row the other one made.
    """
    user_id = _user_id_clean(user_id)
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(user_id=user_id).first()
        if profile is None:
            try:
                created = profile_create(
                    user_id=user_id, data=data, source=source, actor=actor, now=now, note=note
                )
            except ValidationError:
                # Lost a race? Then the customer exists now and this becomes an update.
                profile = Profile.objects.select_for_update().filter(user_id=user_id).first()
                if profile is None:
                    raise
            else:
                return created, True, {}
        changes = profile_update(
            profile=profile, data=data, source=source, actor=actor, now=now, note=note
        )
        return profile, False, changes


# Profiles made for someone who subscribed on the site before the shop told us who they
# are carry a key of our own with this prefix; the shop's user id replaces it.
OWN_KEY_PREFIX = "subscriber-"


@transaction.atomic
def profile_rekey(*, profile: Profile, user_id: str, source: str, now: dt.datetime) -> Profile:
    """Give a profile that has a key of our own the shop's user id. Refuses a profile that
    already has the shop's key, and a user id another profile has."""
    user_id = _user_id_clean(user_id)
    if not profile.user_id.startswith(OWN_KEY_PREFIX):
        raise ValidationError({"user_id": _("This customer already has the shop's user id.")})
    if Profile.objects.filter(user_id=user_id).exists():
        raise ValidationError({"user_id": _("A customer with this user id already exists.")})
    changes = {"user_id": [profile.user_id, user_id]}
    previous, profile.user_id = profile.user_id, user_id
    try:  # the unique index has the last word: a user id taken meanwhile is refused too
        _save(profile, update_fields=["user_id", "updated_at"])
    except ValidationError:
        profile.user_id = previous
        raise
    ProfileChange.objects.create(profile=profile, changed_at=now, source=source, changes=changes)
    profile_changes_emit([(profile, False, changes)], source=source, now=now)
    return profile
