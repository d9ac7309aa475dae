from django.urls import path

from . import views

app_name = "consent"

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/", views.preferences_request, name="preferences_request"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path(
        "preferences/<str:token>/my-data.json", views.preferences_export, name="preferences_export"
    ),
    path("preferences/<str:token>/erase/", views.preferences_erase, name="preferences_erase"),
    path("privacy/", views.privacy, name="privacy"),
]
