"""Reads of the master list: exports and listings."""

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from .models import Profile

EXPORT_COLUMNS = [
    "user_id",
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
    "order_count",
    "total_spent",
    "first_order_at",
    "last_order_at",
    "last_seen_at",
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
