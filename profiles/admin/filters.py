"""The customer list's own filters."""

from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.http import (
    HttpRequest,
)
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from ..models import Profile


class HasOrdersFilter(admin.SimpleListFilter):
    title = _("has orders")
    parameter_name = "has_orders"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        if self.value() == "yes":
            return queryset.filter(order_count__gt=0)
        if self.value() == "no":
            return queryset.filter(order_count=0)
        return queryset


class CountryFilter(admin.SimpleListFilter):
    """Only the countries customers actually live in (not all 250), most common first."""

    title = _("country")
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        key = "profiles:country-filter"
        codes = cache.get(key)
        if codes is None:
            codes = list(
                Profile.objects.exclude(country="")
                .values("country")
                .annotate(n=Count("pk"))
                .order_by("-n")
                .values_list("country", flat=True)[:60]
            )
            cache.set(key, codes, 600)
        return [(code, countries.name(code)) for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        if self.value():
            return queryset.filter(country=self.value())
        return queryset
