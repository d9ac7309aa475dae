"""The rules a profile's fields obey, in one place for every way in: admin, API,
import and the customer's own pages.

`profile_data_clean` turns raw input into clean values or raises one ValidationError
that names every bad field, so nothing is half-saved.
"""

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django_countries import countries

from .models import Language, LifecycleStage

# Fields a caller may write. Value figures (orders, spend, last seen) belong to the
# event roll-ups and are not in this list on purpose.
WRITABLE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "birth_date",
    "phone",
    "street",
    "house_number",
    "postal_code",
    "city",
    "country",
    "language",
    "timezone",
    "lifecycle_stage",
    "acquisition_source",
    "custom_attributes",
)
MAX_LENGTHS = {
    "first_name": 150,
    "last_name": 150,
    "street": 200,
    "house_number": 20,
    "city": 120,
    "acquisition_source": 120,
}
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)

# Postal code formats of the countries a Dutch shop most often ships to. The value is
# (pattern, normaliser); others are checked for length and characters only.
_POSTAL_CODES: dict[str, tuple[re.Pattern[str], Any]] = {
    "NL": (
        re.compile(r"^([1-9][0-9]{3})\s*(?!SA|SD|SS)([A-Z]{2})$"),
        lambda m: f"{m.group(1)} {m.group(2)}",
    ),
    "BE": (re.compile(r"^([1-9][0-9]{3})$"), lambda m: m.group(1)),
    "LU": (re.compile(r"^(?:L-?)?([0-9]{4})$"), lambda m: m.group(1)),
    "DE": (re.compile(r"^([0-9]{5})$"), lambda m: m.group(1)),
    "FR": (re.compile(r"^([0-9]{5})$"), lambda m: m.group(1)),
    "AT": (re.compile(r"^([1-9][0-9]{3})$"), lambda m: m.group(1)),
    "DK": (re.compile(r"^([0-9]{4})$"), lambda m: m.group(1)),
    "ES": (re.compile(r"^([0-9]{5})$"), lambda m: m.group(1)),
    "IT": (re.compile(r"^([0-9]{5})$"), lambda m: m.group(1)),
    "PL": (re.compile(r"^([0-9]{2})-?([0-9]{3})$"), lambda m: f"{m.group(1)}-{m.group(2)}"),
    "GB": (
        re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$"),
        lambda m: f"{m.group(1)} {m.group(2)}",
    ),
}
_GENERIC_POSTAL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,14}$")
_PHONE = re.compile(r"^\+?[0-9(][0-9 ()./-]{5,24}$")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _choice_values(choices: type[Language] | type[LifecycleStage]) -> frozenset[str]:
    # `Choices.values` builds a new list on every access; an import asks 100,000 times.
    return frozenset(choices.values)


def email_canonical(value: object) -> str:
    """The one spelling of an address that Klantbeeld keeps and compares: trimmed,
    lower-cased, its domain in ASCII (an internationalised domain as its punycode,
    xn--…), so "jan@bücher.de" and "jan@xn--bcher-kva.de" are one mailbox, one customer
    and one entry on the do-not-contact list. Text that is no address is only trimmed and
    lower-cased (it is refused elsewhere)."""
    email = str(value or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not domain or domain.isascii():
        return email
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return email


def email_normalise(value: object) -> str:
    """A valid address in its one spelling (email_canonical); raises ValidationError
    otherwise. Refuses what no shop's customer has: an IP address or a name without a dot
    (`localhost`) as the domain."""
    email = email_canonical(value)
    if not email:
        raise ValidationError(_("An email address is required."), code="required")
    if len(email) > 254:  # the column, and RFC 5321's limit on a path
        raise ValidationError(_("An email address has at most 254 characters."), code="max_length")
    domain = email.rpartition("@")[2]
    try:
        if domain.startswith("[") or "." not in domain:
            raise ValidationError("no public domain")
        validate_email(email)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid email address."), code="invalid", params={"value": email}
        ) from None
    return email


def timezone_validate(value: object) -> str:
    name = str(value or "").strip()
    if name not in _timezones():
        raise ValidationError(
            _("“%(value)s” is not a known time zone (use an IANA name like Europe/Amsterdam)."),
            code="invalid",
            params={"value": name},
        )
    return name


def _iso_date(text: str) -> dt.date | None:
    """A YYYY-MM-DD date (the usual case) without strptime's slow machinery; else None."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None  # e.g. 2024-02-30, which strptime refuses the same way


def birth_date_parse(value: object, *, today: dt.date) -> dt.date | None:
    """A birth date from a date or text (YYYY-MM-DD or DD-MM-YYYY); between 1900 and today."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    date: dt.date | None
    if isinstance(value, dt.date):
        date = value
    else:
        text = str(value).strip()
        date = _iso_date(text)
        formats = () if date else ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y")
        for fmt in formats:
            try:
                date = dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date, no time
                break
            except ValueError:
                continue
        if date is None:
            raise ValidationError(
                _("“%(value)s” is not a date (use YYYY-MM-DD)."),
                code="invalid",
                params={"value": text},
            )
    if date > today:
        raise ValidationError(_("A birth date cannot be in the future."), code="future")
    if date < EARLIEST_BIRTH_DATE:
        raise ValidationError(_("A birth date before 1900 is not plausible."), code="too_old")
    return date


def country_normalise(value: object) -> str:
    """An ISO 3166 alpha-2 code from a code or a country name in Dutch or English."""
    text = str(value or "").strip()
    if not text:
        return ""
    code = text.upper()
    if code in countries:
        return code
    for lang in ("en", "nl"):
        by_name = countries.by_name(text, language=lang)
        if by_name:
            return by_name
    raise ValidationError(
        _("“%(value)s” is not a known country (use a code like NL or BE)."),
        code="invalid",
        params={"value": text},
    )


def postal_code_normalise(value: object, *, country: str) -> str:
    text = " ".join(str(value or "").upper().split())
    if not text:
        return ""
    rule = _POSTAL_CODES.get(country)
    if rule:
        pattern, normalise = rule
        match = pattern.match(text)
        if match:
            return str(normalise(match))
        if country == "NL":
            message = _("“%(value)s” is not a Dutch postal code (use 1234 AB).")
        else:
            message = _("“%(value)s” is not a valid postal code for %(country)s.")
        raise ValidationError(
            message, code="invalid", params={"value": text, "country": countries.name(country)}
        )
    if not _GENERIC_POSTAL_CODE.match(text):
        raise ValidationError(
            _("“%(value)s” is not a valid postal code."), code="invalid", params={"value": text}
        )
    return text


def phone_normalise(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    if not _PHONE.match(text) or sum(c.isdigit() for c in text) < 6:
        raise ValidationError(
            _("“%(value)s” is not a phone number."), code="invalid", params={"value": text}
        )
    return " ".join(text.split())


def language_normalise(value: object) -> str:
    """A supported language from a code or a locale: 'nl', 'nl-NL', 'en_GB' …"""
    text = str(value or "").strip().replace("_", "-").lower()
    base = text.split("-")[0]
    if base in _choice_values(Language):
        return base
    raise ValidationError(
        _("“%(value)s” is not a supported language (nl or en)."),
        code="invalid",
        params={"value": value},
    )


def _choice(value: object, choices: type[LifecycleStage]) -> str:
    text = str(value or "").strip().lower()
    if text in _choice_values(choices):
        return text
    raise ValidationError(
        _("“%(value)s” is not one of: %(choices)s."),
        code="invalid",
        params={"value": value, "choices": ", ".join(choices.values)},
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control(value: object) -> bool:
    """Invisible control characters (a NUL, say) anywhere in a value, keys included:
    never meant by a person, and refused by PostgreSQL."""
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, Mapping):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_control(v) for v in value)
    return False


def user_id_clean(value: object) -> str:
    """The shop's own key for a customer: text of at most 255 characters without control
    characters (a NUL in a query makes PostgreSQL fail). Raises a ValidationError
    naming `user_id`."""
    text = str(value or "").strip()
    if not text:
        raise ValidationError({"user_id": _("A user id is required.")}, code="required")
    if len(text) > 255:
        raise ValidationError({"user_id": _("At most 255 characters.")}, code="max_length")
    if _has_control(text):
        raise ValidationError(
            {"user_id": _("Contains invisible control characters.")}, code="control"
        )
    return text


def _text(value: object, *, name: str) -> str:
    text = " ".join(str(value or "").split())
    limit = MAX_LENGTHS[name]
    if len(text) > limit:
        raise ValidationError(
            _("At most %(limit)d characters."), code="max_length", params={"limit": limit}
        )
    return text


def profile_data_clean(
    data: Mapping[str, Any],
    *,
    today: dt.date,
    country_default: str = "",
    postal_code_current: str = "",
    require_email: bool = False,
) -> dict[str, Any]:
    """Clean values for the given fields, or one ValidationError naming every bad field.

    `country_default` is the profile's current country, used to check a postal code
    given without a country. Unknown field names are refused, not ignored.
    """
    cleaning = _Cleaning()
    data = cleaning.known(data)
    if "email" in data or require_email:
        cleaning.run("email", email_normalise, data.get("email"))
    for field in MAX_LENGTHS:
        if field in data:
            cleaning.run(field, _text, data[field], name=field)
    if "birth_date" in data:
        cleaning.run("birth_date", birth_date_parse, data["birth_date"], today=today)
    if "phone" in data:
        cleaning.run("phone", phone_normalise, data["phone"])
    if "country" in data:
        cleaning.run("country", country_normalise, data["country"])
    cleaning.postal_code(data, country_default=country_default, current=postal_code_current)
    if "language" in data:
        cleaning.run("language", language_normalise, data["language"])
    if "timezone" in data:
        cleaning.run("timezone", timezone_validate, data["timezone"])
    if "lifecycle_stage" in data:
        cleaning.run("lifecycle_stage", _choice, data["lifecycle_stage"], LifecycleStage)
    if "custom_attributes" in data:
        cleaning.custom_attributes(data["custom_attributes"])
    return cleaning.result()


class _Cleaning:
    """The clean values so far and the errors per field, for one ValidationError at the end."""

    def __init__(self) -> None:
        self.clean: dict[str, Any] = {}
        self.errors: dict[str, list[ValidationError]] = {}

    def refuse(self, field: str, error: ValidationError) -> None:
        self.errors.setdefault(field, []).extend(error.error_list)

    def run(self, field: str, func: Any, *args: Any, **kwargs: Any) -> None:
        try:
            self.clean[field] = func(*args, **kwargs)
        except ValidationError as exc:
            self.refuse(field, exc)

    def known(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The fields that may be written and hold no control characters; the others are
        refused."""
        for field in data:
            if field not in WRITABLE_FIELDS:
                self.refuse(
                    field, ValidationError(_("Unknown or read-only field."), code="unknown")
                )
            elif _has_control(data[field]):
                self.refuse(
                    field,
                    ValidationError(_("Contains invisible control characters."), code="control"),
                )
        return {k: v for k, v in data.items() if k not in self.errors}

    def postal_code(self, data: Mapping[str, Any], *, country_default: str, current: str) -> None:
        """A postal code fits its country: the new one, else the current one."""
        if "postal_code" in data:
            country = (
                self.clean.get("country", country_default) if "country" not in self.errors else ""
            )
            self.run("postal_code", postal_code_normalise, data["postal_code"], country=country)
        elif "country" in self.clean and current:
            # A new country must fit the postal code that stays.
            try:
                postal_code_normalise(current, country=self.clean["country"])
            except ValidationError:
                self.refuse(
                    "postal_code",
                    ValidationError(
                        _(
                            "The postal code “%(value)s” does not fit the new country; give one that does."
                        ),
                        code="mismatch",
                        params={"value": current},
                    ),
                )

    def custom_attributes(self, value: Any) -> None:
        if value is None:
            self.clean["custom_attributes"] = {}
        elif isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            self.clean["custom_attributes"] = dict(value)
        else:
            self.refuse(
                "custom_attributes",
                ValidationError(_("Custom attributes must be an object of names to values.")),
            )

    def result(self) -> dict[str, Any]:
        if self.errors:
            raise ValidationError(self.errors)
        return self.clean
