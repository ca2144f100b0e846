"""API routes of the audit app under /api/v1/ (mounted by telemed.urls next to the other apps').

A ``SimpleRouter`` (the API root belongs to facilities' ``DefaultRouter``). The FHIR endpoints
keep FHIR's own URL form: ``fhir/AuditEvent`` and ``fhir/AuditEvent/<id>``, no trailing slash.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import complaints, inspections, qc, views

app_name = "audit-api"

router = SimpleRouter()
router.register("responsibility", views.ResponsibilityViewSet, basename="responsibility")
router.register("seals", views.SealViewSet, basename="seal")
router.register("audit-checkpoints", views.AuditCheckpointViewSet, basename="audit-checkpoint")
router.register("complaints", complaints.ComplaintViewSet, basename="complaint")  # JL-O6
router.register("inspectors", inspections.InspectorViewSet, basename="inspector")  # JL-O6: 双随机一公开
router.register("inspection-plans", inspections.InspectionPlanViewSet, basename="inspection-plan")
router.register("inspection-results", inspections.InspectionResultViewSet, basename="inspection-result")
router.register("facility-credit", inspections.FacilityCreditViewSet, basename="facility-credit")
router.register("qc-plans", qc.QCPlanViewSet, basename="qc-plan")  # JL-O2
router.register("qc-draws", qc.QCDrawViewSet, basename="qc-draw")
router.register("qc-reviews", qc.QCReviewViewSet, basename="qc-review")

urlpatterns = [
    *router.urls,
    path("fhir/AuditEvent", views.FhirAuditEventSearch.as_view(), name="fhir-auditevent-search"),
    path("fhir/AuditEvent/<int:pk>", views.FhirAuditEventRead.as_view(), name="fhir-auditevent-read"),
]
