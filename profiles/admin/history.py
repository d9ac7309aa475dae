"""Every change of a customer, as the history shows it."""

from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin

from ..models import ProfileChange


def change_summary(change: ProfileChange) -> str:
    if change.erased:
        return format_html(
            "<em>{}</em>: {}",
            gettext("personal data erased"),
            ", ".join(sorted(change.changes)),
        )
    return format_html_join(
        "",
        "<div><strong>{}</strong>: {} → {}</div>",
        ((field, _shown(old), _shown(new)) for field, (old, new) in sorted(change.changes.items())),
    )


def _shown(value: Any) -> str:
    if value in (None, ""):
        return "—"
    return str(value)


@admin.register(ProfileChange)
class ProfileChangeAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "profile", "source", "actor", "what_changed")
    list_filter = ("source", ("changed_at", admin.DateFieldListFilter))
    search_fields = ("=profile__user_id",)
    search_help_text = _("Search by user id.")
    list_select_related = ("profile", "actor")
    show_full_result_count = False
    readonly_fields = (
        "profile",
        "changed_at",
        "source",
        "actor",
        "created",
        "what_changed",
        "note",
        "erased",
    )
    exclude = ("changes",)

    @admin.display(description=_("what changed"))
    def what_changed(self, change: ProfileChange) -> str:
        return change_summary(change)
