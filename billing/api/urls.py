"""Partner API routes under /api/v1/ (mounted by telemed.urls next to the other apps' routers).

A ``SimpleRouter``: the API root view belongs to facilities' ``DefaultRouter`` at the same prefix.
"""

from rest_framework.routers import SimpleRouter

from . import views

app_name = "billing-api"

router = SimpleRouter()
router.register("price-standards", views.PriceStandardViewSet, basename="price-standard")
router.register("prices", views.FacilityPriceViewSet, basename="price")
router.register("charges", views.ChargeViewSet, basename="charge")
router.register("statements", views.StatementViewSet, basename="statement")
router.register("settlement-accounts", views.SettlementAccountViewSet, basename="settlement-account")
router.register("allocation-policies", views.AllocationPolicyViewSet, basename="allocation-policy")
router.register("payout-reports", views.PayoutReportViewSet, basename="payout-report")
router.register("my-payouts", views.MyPayoutViewSet, basename="my-payout")

urlpatterns = router.urls
