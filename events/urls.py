from django.urls import path

from . import views

KINDS = ("identify", "track", "page", "screen", "group", "alias", "batch")

urlpatterns = [
    path(f"api/v1/{kind}", views.track_api, {"kind": kind}, name=f"segment-{kind}")
    for kind in KINDS
]
