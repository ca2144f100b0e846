"""JL-O6: the public pages, under /public/ (namespace ``public``), reachable without an account: the
complaint intake and status lookup, the published random inspections (双随机一公开) and the credit
records. Every page here must stay free of staff and patient data; the two-factor and password-age
gates let this namespace through (``telemed.public.PUBLIC_NAMESPACES``)."""

from django.urls import path

from . import complaint_views, inspection_views

app_name = "public"

urlpatterns = [
    path("complaints/new/", complaint_views.public_complaint_new, name="complaint-new"),
    path("complaints/status/", complaint_views.public_complaint_status, name="complaint-status"),
    path("inspections/", inspection_views.public_inspection_list, name="inspection-list"),
    path("inspections/<int:pk>/", inspection_views.public_inspection_detail, name="inspection-detail"),
    path("credit/", inspection_views.public_credit_list, name="credit-list"),
    path("credit/<int:pk>/", inspection_views.public_credit_detail, name="credit-detail"),
]
