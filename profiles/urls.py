from django.urls import path

from . import views

app_name = "profiles"

urlpatterns = [
    path("email/confirm/<str:token>/", views.email_change_confirm, name="email_change_confirm"),
    path("email/cancel/<str:token>/", views.email_change_cancel, name="email_change_cancel"),
]
