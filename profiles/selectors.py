"""Reads of the master list: exports and listings."""

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .models import Profile
from .registry import export_sections, profile_fields
from .validation import WRITABLE_FIELDS

# What events keep on a profile: read-only everywhere else.
VALUE_FIGURES = ("order_count", "total_spent", "first_order_at", "last_order_at", "last_seen_at")
# The customer list's CSV export, and so the columns an import takes back: the shop's key,
# every writable field, the value figures, when the customer was added, and last the free
# custom attributes.
EXPORT_COLUMNS = [
    "user_id",
    *(field for field in WRITABLE_FIELDS if field != "custom_attributes"),
    *VALUE_FIGURES,
    "created_at",
    "custom_attributes",
]


def _export_value(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return value


def profile_export_rows(queryset: QuerySet[Profile]) -> Iterator[list[Any]]:
    """One list per profile in EXPORT_COLUMNS order, streamed from the database.

    The columns are the import's own, so an export can be corrected and imported again.
    """
    for values in queryset.order_by("pk").values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000):
        yield [_export_value(v) for v in values]


def profile_as_dict(profile: Profile) -> dict[str, Any]:
    """The profile as the management API shows it, with what other apps add (consents …)."""

    data: dict[str, Any] = {
        "user_id": profile.user_id,
        "email": profile.email,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "birth_date": profile.birth_date.isoformat() if profile.birth_date else None,
        "phone": profile.phone,
        "address": {
            "street": profile.street,
            "house_number": profile.house_number,
            "postal_code": profile.postal_code,
            "city": profile.city,
            "country": str(profile.country),
        },
        "timezone": profile.timezone,
        "language": profile.language,
        "lifecycle_stage": profile.lifecycle_stage,
        "acquisition_source": profile.acquisition_source,
        "order_count": profile.order_count,
        "total_spent": str(profile.total_spent),
        "first_order_at": _iso(profile.first_order_at),
        "last_order_at": _iso(profile.last_order_at),
        "last_seen_at": _iso(profile.last_seen_at),
        "custom_attributes": profile.custom_attributes,
        "created_at": _iso(profile.created_at),
        "updated_at": _iso(profile.updated_at),
    }
    for name, func in profile_fields.items():
        data[name] = func(profile)
    return data


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


# Sections every export has, even before the app that fills one has anything to say.
EXPORT_SECTIONS = ("profile", "history", "consent_ledger", "events", "deliveries", "survey_answers")


def profile_export(profile: Profile) -> dict[str, Any]:
    """Everything held on the person (GDPR art. 15 and 20), as JSON-able data."""

    export: dict[str, Any] = {name: [] for name in EXPORT_SECTIONS}
    export["profile"] = profile_as_dict(profile)
    export["history"] = [
        {
            "changed_at": change.changed_at.isoformat(),
            "through": change.source,
            "by": change.actor.get_username() if change.actor else None,
            "created": change.created,
            "changes": change.changes,
            "note": change.note,
        }
        for change in profile.changes.select_related("actor").order_by("changed_at", "id")
    ]
    export["email_changes"] = email_changes_export(profile)
    for name, func in export_sections.items():
        export[name] = func(profile)
    return export


def email_changes_export(profile: Profile) -> list[dict[str, Any]]:
    """The new addresses the customer asked for and what became of each (a pending one
    is kept until it is confirmed, cancelled or runs out)."""
    now = timezone.now()
    rows = []
    for request in profile.email_change_requests.order_by("requested_at", "id"):
        if request.confirmed_at:
            status = "confirmed"
        elif request.cancelled_at:
            status = "cancelled"
        elif now >= request.expires_at:
            status = "expired"
        else:
            status = "pending"
        rows.append(
            {
                "new_email": request.new_email,
                "status": status,
                "requested_at": _iso(request.requested_at),
                "expires_at": _iso(request.expires_at),
                "confirmed_at": _iso(request.confirmed_at),
                "cancelled_at": _iso(request.cancelled_at),
            }
        )
    return rows
