"""Pages of the partner applications (issue 14) under /partner-clients/."""

from django.urls import path

from . import views

app_name = "partner-clients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("new/", views.client_create, name="create"),
    path("<int:pk>/rotate/", views.client_rotate, name="rotate"),
    path("<int:pk>/revoke/", views.client_revoke, name="revoke"),
]
