from typing import Any

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

from ..dashboard import dashboard_figures
from ..models import Survey, SurveyKind

register = template.Library()


@register.inclusion_tag("admin/dashboard.html", takes_context=True)
def dashboard(context: Any) -> dict[str, Any]:
    request = context.get("request")
    fresh = bool(request and request.GET.get("refresh") == "1" and request.user.is_staff)
    figures = dashboard_figures(fresh=fresh)
    # The figures are cached for everyone; their words follow the reader's language.
    attribution = Survey.objects.filter(kind=SurveyKind.ATTRIBUTION).first()
    labels = {
        "sent": _("sent"),
        "opened": _("opened"),
        "sources": {
            row["source"]: attribution.option_label(row["source"]) if attribution else row["source"]
            for row in figures["sources"]
        },
    }
    minutes = max(1, settings.DASHBOARD_CACHE_SECONDS // 60)
    return {"figures": figures, "labels": labels, "minutes": minutes, "request": request}
