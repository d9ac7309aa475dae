from django.contrib import admin
from django.urls import include, path

from config.api import api
from core.views import favicon, healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("events.urls")),  # Segment's tracking API, before the ninja API
    path("api/v1/", api.urls),
    path("p/", include("profiles.urls")),
    path("", include("consent.urls")),
    path("", include("surveys.urls")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    # ESP webhooks: /anymail/<esp>/tracking/, behind ANYMAIL_WEBHOOK_SECRET (campaigns.tracking)
    path("anymail/", include("anymail.urls")),
]
