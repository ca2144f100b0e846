"""JL-O6: the public complaint pages, under /public/complaints/ (namespace ``public``), reachable
without an account. Every page here must stay free of staff and patient data; the two-factor and
password-age gates let this namespace through (``telemed.public.PUBLIC_NAMESPACES``)."""

from django.urls import path

from . import complaint_views

app_name = "public"

urlpatterns = [
    path("new/", complaint_views.public_complaint_new, name="complaint-new"),
    path("status/", complaint_views.public_complaint_status, name="complaint-status"),
]
