"""Partner API routes under /api/v1/ (mounted by telemed.urls next to facilities.api.urls).

A ``SimpleRouter``: the API root view belongs to facilities' ``DefaultRouter`` at the same prefix.
"""

from rest_framework.routers import SimpleRouter

from . import referrals, views, violations

app_name = "consultations-api"

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("admissions", views.AdmissionViewSet, basename="admission")
router.register("obligations", views.ObligationViewSet, basename="obligation")
router.register("consultations", views.ConsultationViewSet, basename="consultation")
router.register("referrals", referrals.ReferralViewSet, basename="referral")
router.register("violations", violations.ViolationViewSet, basename="violation")  # JL-C2, issue 14

urlpatterns = router.urls
