"""The event browser: what the shop's systems reported, newest first, filterable, and
fast on tens of millions of rows (no full counts, filters that use the indexes)."""

import datetime as dt
import json
from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin

from .models import Event
from .selectors import event_glance
from .spec import COMMON_EVENTS

# Counting every matching row of a big table takes seconds; beyond this many the
# browser says "more than" instead.
COUNT_CAP = 10_000
NAMES_CACHE_SECONDS = 600


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (a LIMIT in a subquery) — enough to page through
    what a person reads; the unfiltered table's size comes from PostgreSQL's estimate."""

    @cached_property
    def count(self) -> int:
        query: QuerySet[Event] = self.object_list  # type: ignore[assignment]
        if connection.vendor == "postgresql" and not query.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [Event._meta.db_table],
                )
                row = cursor.fetchone()
            estimate = int(row[0]) if row else 0
            if estimate > COUNT_CAP:
                return estimate
        return int(query.order_by()[: COUNT_CAP + 1].count())


class NameFilter(admin.SimpleListFilter):
    title = _("event")
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """The names seen in the last week (cached: one index range scan), and the common
        ones of the e-commerce spec."""

        def recent() -> list[str]:
            since = timezone.now() - dt.timedelta(days=7)
            return list(
                Event.objects.filter(received_at__gte=since)
                .exclude(name="")
                .values_list("name", flat=True)
                .distinct()[:200]
            )

        cached: list[str] = cache.get_or_set("events:names", recent, NAMES_CACHE_SECONDS) or []
        names = set(COMMON_EVENTS) | set(cached)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        return queryset.filter(name=value) if value else queryset


class SinceFilter(admin.SimpleListFilter):
    title = _("happened")
    parameter_name = "since"
    PERIODS = {"1": dt.timedelta(days=1), "7": dt.timedelta(days=7), "30": dt.timedelta(days=30)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("1", _("in the last 24 hours")),
            ("7", _("in the last 7 days")),
            ("30", _("in the last 30 days")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        period = self.PERIODS.get(self.value() or "")
        return queryset.filter(timestamp__gte=timezone.now() - period) if period else queryset


class KnownFilter(admin.SimpleListFilter):
    title = _("customer")
    parameter_name = "known"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("known customer")), ("no", _("anonymous visitor"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        if self.value() == "yes":
            return queryset.exclude(profile=None)
        if self.value() == "no":
            return queryset.filter(profile=None)
        return queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """Read-only: events are facts the shop reported."""

    list_display = ("timestamp", "type", "name", "customer", "glance", "received_at")
    list_filter = ("type", NameFilter, SinceFilter, KnownFilter)
    # Exact matches only, each served by an index.
    search_fields = ("=profile__user_id", "=message_id")
    search_help_text = _("Search by the customer's user id or an event's messageId.")
    list_select_related = ("profile",)
    ordering = ("-received_at",)
    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50
    exclude = ("properties", "context")
    readonly_fields = (
        "message_id",
        "type",
        "name",
        "profile",
        "user_id",
        "anonymous_id",
        "timestamp",
        "received_at",
        "properties_shown",
        "context_shown",
    )

    @admin.display(description=_("customer"))
    def customer(self, event: Event) -> str:
        if event.profile_id:
            return event.profile.user_id if event.profile else ""
        return format_html("<em>{}</em>", event.anonymous_id or event.user_id)

    @admin.display(description=_("details"))
    def glance(self, event: Event) -> str:
        return event_glance(event)

    @admin.display(description=_("properties"))
    def properties_shown(self, event: Event) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(event.properties, indent=2, ensure_ascii=False)
        )

    @admin.display(description=_("context"))
    def context_shown(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.context, indent=2, ensure_ascii=False))
