from typing import Any

from django import template

from ..dashboard import dashboard_figures

register = template.Library()


@register.inclusion_tag("admin/dashboard.html", takes_context=True)
def dashboard(context: Any) -> dict[str, Any]:
    request = context.get("request")
    fresh = bool(request and request.GET.get("refresh") == "1" and request.user.is_staff)
    return {"figures": dashboard_figures(fresh=fresh), "request": request}
