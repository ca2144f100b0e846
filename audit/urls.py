"""Pages of medical records under the law, under /records/ (namespace ``audit``)."""

from django.urls import path

from . import complaint_views, inspection_views, qc_views, views

app_name = "audit"

urlpatterns = [
    path("responsibility/", views.responsibility_list, name="responsibility-list"),
    path("consultations/<int:pk>/responsibility/", views.responsibility_detail, name="responsibility-detail"),
    path("consultations/<int:pk>/seal/", views.seal_create, name="seal-create"),
    path("consultations/<int:pk>/sealed-access/", views.sealed_access, name="sealed-access"),
    path("seals/", views.seal_list, name="seal-list"),
    path("seals/<int:pk>/", views.seal_detail, name="seal-detail"),
    path("seals/<int:pk>/unseal/", views.seal_release, name="seal-release"),
    path("audit-chain/", views.chain, name="chain"),
    path("audit-chain/checkpoints/", views.checkpoint_list, name="checkpoint-list"),
    path("audit-chain/checkpoints/<int:pk>/download/", views.checkpoint_download, name="checkpoint-download"),
    # JL-O6: complaints about a facility (staff and regulators)
    path("complaints/", complaint_views.complaint_list, name="complaint-list"),
    path("complaints/new/", complaint_views.complaint_create, name="complaint-create"),
    path("complaints/<int:pk>/", complaint_views.complaint_detail, name="complaint-detail"),
    # JL-O6: random inspections (双随机一公开) and credit records
    path("inspections/", inspection_views.inspection_list, name="inspection-list"),
    path("inspections/roster/", inspection_views.inspection_roster, name="inspection-roster"),
    path("inspections/<int:pk>/", inspection_views.inspection_plan, name="inspection-plan"),
    path("inspections/results/<int:pk>/", inspection_views.inspection_result, name="inspection-result"),
    path("credit/", inspection_views.credit_list, name="credit-list"),
    path("credit/<int:pk>/", inspection_views.credit_detail, name="credit-detail"),
    # Quality control (JL-O2, art. 26, 27)
    path("qc/", qc_views.qc_plan_list, name="qc-plan-list"),
    path("qc/draws/<int:pk>/", qc_views.qc_draw_detail, name="qc-draw-detail"),
    path("qc/reviews/", qc_views.qc_review_list, name="qc-review-list"),
    path("qc/reviews/<int:pk>/", qc_views.qc_review_detail, name="qc-review-detail"),
]
