"""Identify calls onto the profile: which traits are profile fields (the rest become
custom attributes), and creating or updating the customer they name."""

import contextlib
import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError

from profiles.models import ChangeSource, Profile
from profiles.services import OWN_KEY_PREFIX, profile_create, profile_rekey, profile_update
from profiles.validation import email_canonical, language_normalise, timezone_validate

from .customers import Owner
from .models import Event
from .segment import BadMessage, Message

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


def identify_apply(
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
                email__lower=email_canonical(data["email"]),
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
