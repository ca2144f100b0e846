"""Pages of the facilities app, under /facilities/ (namespace ``facilities``)."""

from django.urls import path

from telemed.dbrouter import replica_reads

from . import assistance_views, equipment_views, evaluation_views, signin_views, views
from .metrics import views as metrics_views

app_name = "facilities"

urlpatterns = [
    path("lockouts/", signin_views.lockout_list, name="lockout-list"),
    path("lockouts/release/", signin_views.lockout_release, name="lockout-release"),
    path("", views.facility_list, name="facility-list"),
    # Issue 11: the dashboard's rollups may be read from the replica (telemed/dbrouter.py).
    path("metrics/", replica_reads(metrics_views.dashboard), name="metrics"),
    path("metrics/divisions/<str:code>/", replica_reads(metrics_views.division_dashboard), name="metrics-division"),
    path("metrics/divisions/<str:code>/export/", replica_reads(metrics_views.division_export), name="metrics-division-export"),
    path("metrics/facilities/<int:pk>/", replica_reads(metrics_views.facility_scorecard), name="metrics-facility"),
    path("metrics/facilities/<int:pk>/export/", replica_reads(metrics_views.facility_export), name="metrics-facility-export"),
    path("<int:pk>/", views.facility_detail, name="facility-detail"),
    path("<int:pk>/staff/", views.staff_list, name="staff-list"),
    path("<int:pk>/staff/<int:membership_pk>/revoke/", views.staff_revoke, name="staff-revoke"),
    path("agreements/", views.agreement_list, name="agreement-list"),
    path("agreements/new/", views.agreement_create, name="agreement-create"),
    path("agreements/<int:pk>/", views.agreement_detail, name="agreement-detail"),
    path("agreements/<int:pk>/terminate/", views.agreement_terminate, name="agreement-terminate"),
    path("agreements/<int:pk>/signed-copy/", views.agreement_signed_copy, name="agreement-signed-copy"),
    path("physicians/", views.physician_list, name="physician-list"),
    path("physicians/new/", views.physician_create, name="physician-create"),
    path("physicians/<int:pk>/", views.physician_detail, name="physician-detail"),
    path(
        "physicians/<int:pk>/platform-register/",
        views.physician_platform_register,
        name="physician-platform-register",
    ),
    path(
        "physicians/<int:pk>/registrations/<int:registration_pk>/verify/",
        views.registration_action,
        {"action": "verify"},
        name="registration-verify",
    ),
    path(
        "physicians/<int:pk>/registrations/<int:registration_pk>/authorise/",
        views.registration_action,
        {"action": "authorise"},
        name="registration-authorise",
    ),
    path(
        "physicians/<int:pk>/registrations/<int:registration_pk>/revoke/",
        views.registration_action,
        {"action": "revoke"},
        name="registration-revoke",
    ),
    path(
        "physicians/<int:pk>/registrations/<int:registration_pk>/qualifications/",
        views.physician_qualifications,
        name="physician-qualifications",
    ),
    path("duty/", views.duty_list, name="duty-list"),
    path("duty/new/", views.duty_create, name="duty-create"),
    path("applications/", views.application_list, name="application-list"),
    path("applications/new/", views.application_create, name="application-create"),
    path("applications/<int:pk>/", views.application_detail, name="application-detail"),
    path("applications/<int:pk>/decide/", views.application_decide, name="application-decide"),
    path(
        "applications/<int:pk>/evidence/<int:item_pk>/",
        views.application_evidence,
        name="application-evidence",
    ),
    path("service-types/", views.service_type_list, name="service-type-list"),
    path("service-types/new/", views.service_type_create, name="service-type-create"),
    path("service-types/<slug:code>/standard/", assistance_views.service_type_standard, name="service-type-standard"),
    path("suspensions/", views.suspension_list, name="suspension-list"),
    path("suspensions/new/", views.suspension_create, name="suspension-create"),
    path("suspensions/<int:pk>/lift/", views.suspension_lift, name="suspension-lift"),
    path("suspensions/<int:pk>/", equipment_views.suspension_detail, name="suspension-detail"),
    path("assistance/", assistance_views.assistance_report, name="assistance"),  # JL-O4
    path("equipment/", equipment_views.asset_list, name="asset-list"),
    path("equipment/new/", equipment_views.asset_create, name="asset-create"),
    path("equipment/<int:pk>/", equipment_views.asset_detail, name="asset-detail"),
    # JL-O3 (art. 45-47): the yearly evaluation
    path("evaluation/", evaluation_views.evaluation_list, name="evaluation-list"),
    path("evaluation/formulas/", evaluation_views.evaluation_formulas, name="evaluation-formulas"),
    path("evaluation/<int:pk>/", evaluation_views.evaluation_round, name="evaluation-round"),
    path("evaluation/<int:pk>/publish/", evaluation_views.evaluation_publish, name="evaluation-publish"),
    path("evaluation/<int:pk>/export/<str:fmt>/", evaluation_views.evaluation_export, name="evaluation-export"),
    path("evaluation/results/<int:pk>/", evaluation_views.evaluation_result, name="evaluation-result"),
]
