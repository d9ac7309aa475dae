"""Management API of the surveys app: the NPS report."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from core.api_auth import admin_token

from .selectors import nps_report

router = Router(auth=admin_token, tags=["reports"])


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: _("Use a date as YYYY-MM-DD.")}) from None


class Period(Schema):
    start: str = Field(..., alias="from", description="first day, YYYY-MM-DD")
    to: str = Field(..., description="last day (included), YYYY-MM-DD")


@router.get(
    "/reports/nps",
    summary="NPS over a period: promoters (9–10), passives (7–8), detractors (0–6)",
)
def nps_get(request: HttpRequest, period: Query[Period]) -> dict[str, Any]:
    start, end = _date(period.start, "from"), _date(period.to, "to")
    if end < start:
        raise ValidationError({"to": _("The end lies before the start.")})
    return {"from": start.isoformat(), "to": end.isoformat(), **nps_report(start=start, end=end)}
