"""A customer's own corrections, and changing their address: a link to the new address
confirms it, a link to the old one cancels it."""

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.queue import task_queue
from core.tokens import token_from_nonce, token_hash, token_nonce

from ..models import (
    ChangeSource,
    EmailChangeRequest,
    Profile,
)
from ..validation import email_normalise
from .profile import AddressTaken, email_taken, email_taken_error, profile_update


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
    if email_taken(email, exclude_pk=profile.pk):
        raise email_taken_error()
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


class EmailChangeError(DomainError):
    """Why a confirmation link cannot be used; `code` picks the page the customer sees."""

    def __init__(self, code: str, request: EmailChangeRequest | None = None) -> None:
        super().__init__(code, status=404 if code == "invalid" else 400)
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
