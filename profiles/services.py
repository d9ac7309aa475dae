"""Writes to the master list. Every change goes through here and into the history."""

import contextlib
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.fields import Country

from core.queue import task_queue
from core.tokens import token_from_nonce, token_hash, token_nonce

from . import registry
from .models import (
    ChangeSource,
    EmailChangeRequest,
    Profile,
    ProfileChange,
    WebhookEvent,
)
from .validation import email_normalise, profile_data_clean
from .validation import user_id_clean as _user_id_clean
from .webhooks import profile_changes_emit, webhooks_emit, webhooks_erase


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


def _email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    qs = Profile.objects.filter(email__lower=email.lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


class AddressTaken(ValidationError):
    """The address belongs to another customer."""


def _email_taken_error() -> ValidationError:
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
        if "profile_email_unique_ci" in str(exc):
            raise _email_taken_error() from exc
        if "user_id" in str(exc):
            raise ValidationError(
                {"user_id": _("A customer with this user id already exists.")}, code="unique"
            ) from exc
        raise


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
    if _email_taken(clean["email"]):
        raise _email_taken_error()
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
        and _email_taken(clean["email"], exclude_pk=profile.pk)
    ):
        raise _email_taken_error()
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


@transaction.atomic
def history_erase(*, profile: Profile) -> int:
    """Scrub the personal values from a profile's change history; returns rows scrubbed.

    Which fields changed, when and through what stays (the audit trail); what they
    changed from and to does not.
    """
    scrubbed = 0
    for change in profile.changes.filter(erased=False).only("pk", "changes"):
        change.changes = {field: [None, None] for field in change.changes}
        change.erased = True
        change.note = ""
        change.save(update_fields=["changes", "erased", "note"])
        scrubbed += 1
    return scrubbed


def admin_log_erase(*, profile: Profile) -> int:
    """Scrub the admin's "recent actions" about the profile: the entry's label (the
    customer's user id) and its message go; who did what, and when, stays."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Profile), object_id=str(profile.pk)
    ).update(object_repr="erased", change_message="")


# --- Email change from the customer's side ---------------------------------------------


@transaction.atomic
def email_change_request(
    *, profile: Profile, new_email: str, now: dt.datetime
) -> EmailChangeRequest:
    """Start a customer's change of address.

    The new address gets a verification link; the current address is told and can cancel.
    Nothing changes on the profile until the new address confirms. An earlier open request
    is cancelled. Refuses an invalid address, the current one, and one in use by another
    customer.
    """
    try:
        email = email_normalise(new_email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from None
    if email == profile.email:
        raise ValidationError({"email": _("This is already your email address.")})
    if _email_taken(email, exclude_pk=profile.pk):
        raise _email_taken_error()
    profile.email_change_requests.filter(confirmed_at=None, cancelled_at=None).update(
        cancelled_at=now
    )
    nonce = token_nonce()
    request = EmailChangeRequest.objects.create(
        profile=profile,
        new_email=email,
        nonce=nonce,
        token_hash=token_hash(token_from_nonce(nonce, "email-confirm")),
        cancel_token_hash=token_hash(token_from_nonce(nonce, "email-cancel")),
        requested_at=now,
        expires_at=now + dt.timedelta(hours=settings.EMAIL_CHANGE_TOKEN_TTL_HOURS),
    )
    task_queue("profiles.tasks.send_email_change_mail", request.pk, "verify")
    task_queue("profiles.tasks.send_email_change_mail", request.pk, "notice")
    return request


@transaction.atomic
def profile_correct(
    *, profile: Profile, data: Mapping[str, Any], new_email: str, now: dt.datetime
) -> tuple[dict[str, list[Any]], bool]:
    """The customer's own corrections (preference page): returns (what changed, whether a
    change of address was started). Fields apply at once; a new address only once the
    new address confirms it. An address that belongs to another customer is answered as
    if it were free (nothing is mailed to it): the page must not tell who else is a
    customer. Refuses bad values, naming the field."""
    changes = profile_update(profile=profile, data=data, source=ChangeSource.CUSTOMER, now=now)
    new_email = new_email.strip().lower()
    if not new_email or new_email == profile.email:
        return changes, False
    with contextlib.suppress(AddressTaken):
        email_change_request(profile=profile, new_email=new_email, now=now)
    return changes, True


class EmailChangeError(Exception):
    """Why a confirmation link cannot be used; `code` picks the page the customer sees."""

    def __init__(self, code: str, request: EmailChangeRequest | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.request = request


def email_change_lookup(*, token: str, kind: str = "confirm") -> EmailChangeRequest:
    """The request a confirm (or, with kind="cancel", a cancel) link belongs to."""
    field = "token_hash" if kind == "confirm" else "cancel_token_hash"
    request = (
        EmailChangeRequest.objects.select_related("profile")
        .filter(**{field: token_hash(token)})
        .first()
    )
    if request is None:
        raise EmailChangeError("invalid")
    return request


def email_change_state(request: EmailChangeRequest, *, now: dt.datetime) -> str:
    """open, already_confirmed, cancelled or expired."""
    if request.confirmed_at:
        return "already_confirmed"
    if request.cancelled_at:
        return "cancelled"
    if now >= request.expires_at:
        return "expired"
    return "open"


@transaction.atomic
def email_change_confirm(*, token: str, now: dt.datetime) -> Profile:
    """Apply a verified new address; single use, refused once expired, cancelled or taken.

    Raises EmailChangeError with code invalid, already_confirmed, cancelled, expired or taken.
    """
    request = (
        EmailChangeRequest.objects.select_for_update()
        .select_related("profile")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if request is None:
        raise EmailChangeError("invalid")
    state = email_change_state(request, now=now)
    if state != "open":
        raise EmailChangeError(state, request)
    try:
        profile_update(
            profile=request.profile,
            data={"email": request.new_email},
            source=ChangeSource.CUSTOMER,
            now=now,
            note="email change verified by the new address",
        )
    except ValidationError as exc:
        raise EmailChangeError("taken", request) from exc
    request.confirmed_at = now
    request.save(update_fields=["confirmed_at"])
    return request.profile


@transaction.atomic
def email_change_cancel(*, token: str, now: dt.datetime) -> EmailChangeRequest:
    """The current address says "this was not me": the pending change can no longer be used."""
    request = (
        EmailChangeRequest.objects.select_for_update()
        .filter(cancel_token_hash=token_hash(token))
        .first()
    )
    if request is None:
        raise EmailChangeError("invalid")
    if request.confirmed_at:
        raise EmailChangeError("already_confirmed", request)
    if not request.cancelled_at:
        request.cancelled_at = now
        request.save(update_fields=["cancelled_at"])
    return request


# Fields blanked on erasure; value figures stay, anonymous, so campaign reports stay whole.
ERASED_FIELDS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "birth_date": None,
    "phone": "",
    "street": "",
    "house_number": "",
    "postal_code": "",
    "city": "",
    "country": "",
    "acquisition_source": "",
    "custom_attributes": {},
    "timezone": "Europe/Amsterdam",
}


@transaction.atomic
def profile_erase(
    *, profile: Profile, now: dt.datetime, source: str, actor: User | None = None
) -> Profile:
    """Erase the person (GDPR art. 17): personal data goes everywhere it is held.

    Every registered eraser runs (the consent app keeps only a keyed hash of the
    address, the date and the reason, so the person is never re-added as contactable;
    profiles' own scrubs the kept imports), the change history and the admin's log
    entries about the profile are scrubbed, and the profile becomes an empty tombstone with a new
    random key, so every old self-service link stops working. Erasing twice is harmless.
    """
    profile = Profile.objects.select_for_update().get(pk=profile.pk)
    if profile.erased_at:
        return profile
    email, user_id = profile.email, profile.user_id
    for eraser in registry.erasers.values():
        eraser(profile, now, email)
    history_erase(profile=profile)
    admin_log_erase(profile=profile)
    webhooks_erase(profile=profile)
    profile.email_change_requests.all().delete()
    marker = uuid.uuid4().hex
    for field, value in ERASED_FIELDS.items():
        setattr(profile, field, value)
    profile.user_id = f"erased-{marker}"
    profile.email = f"{marker}@erased.invalid"
    profile.public_id = uuid.uuid4()
    profile.erased_at = now
    profile.save(
        update_fields=[*ERASED_FIELDS, "user_id", "email", "public_id", "erased_at", "updated_at"]
    )
    ProfileChange.objects.create(
        profile=profile,
        changed_at=now,
        source=source,
        actor=actor,
        changes={},
        erased=True,
        note="personal data erased",
    )
    # The shop's systems hear which of their customers to erase, by their own key.
    webhooks_emit(
        WebhookEvent.PROFILE_ERASED,
        profile=profile,
        data={"user_id": user_id},
        source=source,
        now=now,
    )
    return profile


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
    profile.user_id = user_id
    profile.save(update_fields=["user_id", "updated_at"])
    ProfileChange.objects.create(profile=profile, changed_at=now, source=source, changes=changes)
    profile_changes_emit([(profile, False, changes)], source=source, now=now)
    return profile
