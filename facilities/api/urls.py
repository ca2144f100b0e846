"""Partner API routes under /api/v1/ (mounted by telemed.urls)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from telemed.dbrouter import replica_reads

from ..assistance_views import AssistanceCreditView
from ..metrics import api as metrics_api
from . import equipment, evaluation, token, views

app_name = "facilities-api"

router = DefaultRouter()
router.register("facilities", views.FacilityViewSet, basename="facility")
router.register("agreements", views.AgreementViewSet, basename="agreement")
router.register("physicians", views.PhysicianViewSet, basename="physician")
router.register("registrations", views.RegistrationViewSet, basename="registration")
router.register("service-types", views.ServiceTypeViewSet, basename="service-type")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("duty", views.DutyShiftViewSet, basename="duty")
router.register("suspensions", views.SuspensionViewSet, basename="suspension")
router.register("equipment", equipment.AssetViewSet, basename="asset")  # JL-O7
router.register("evaluation/formulas", evaluation.EvaluationFormulaViewSet, basename="evaluation-formula")  # JL-O3
router.register("evaluation/rounds", evaluation.EvaluationRoundViewSet, basename="evaluation-round")
router.register("evaluation/results", evaluation.EvaluationResultViewSet, basename="evaluation-result")
router.register("accreditation-applications", views.AccreditationApplicationViewSet, basename="application")

urlpatterns = [
    path("auth/token/", token.TokenObtainView.as_view(), name="auth-token"),  # JL-A2
    *router.urls,
    path("assistance-credit/", AssistanceCreditView.as_view(), name="assistance-credit"),  # JL-O4
    path("metrics/divisions/<str:code>/", replica_reads(metrics_api.DivisionMetricsView.as_view()), name="metrics-division"),
    path("metrics/facilities/<int:pk>/", replica_reads(metrics_api.FacilityMetricsView.as_view()), name="metrics-facility"),
]
