from django.urls import path

from . import views

app_name = "consent"

urlpatterns = [
    path("", views.home, name="home"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # The same without the slash, answered directly: an RFC 8058 one-click POST must get
    # its 200 at the URL it was sent to, and APPEND_SLASH would answer a redirect.
    path("unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe_no_slash"),
    path("preferences/", views.preferences_request, name="preferences_request"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path(
        "preferences/<str:token>/my-data.json", views.preferences_export, name="preferences_export"
    ),
    path("preferences/<str:token>/erase/", views.preferences_erase, name="preferences_erase"),
    path("privacy/", views.privacy, name="privacy"),
]
