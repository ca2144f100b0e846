"""Pages of the billing app, under /billing/ (namespace ``billing``)."""

from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("", views.index, name="index"),
    path("charges/", views.charge_list, name="charge-list"),
    path("charges/<int:pk>/payment/", views.charge_payment, name="charge-payment"),
    path("charges/<int:pk>/reverse/", views.charge_reverse, name="charge-reverse"),
    path("statements/", views.statement_list, name="statement-list"),
    path("statements/<int:pk>/", views.statement_detail, name="statement-detail"),
    path("statements/<int:pk>/confirm/", views.statement_confirm, name="statement-confirm"),
    path("statements/<int:pk>/payment/", views.statement_payment, name="statement-payment"),
    path("statements/<int:pk>/export/<str:fmt>/", views.statement_export, name="statement-export"),
    path("standards/", views.standard_list, name="standard-list"),
    path("standards/new/", views.standard_create, name="standard-create"),
    path("prices/", views.price_list, name="price-list"),
    path("prices/new/", views.price_create, name="price-create"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/new/", views.account_create, name="account-create"),
    path("allocation/", views.allocation_list, name="allocation-list"),
    path("allocation/new/", views.allocation_create, name="allocation-create"),
    path("totals/", views.regulator_totals, name="regulator-totals"),
    path("payouts/", views.payout_list, name="payout-list"),
    path("payouts/draft/", views.payout_draft, name="payout-draft"),
    path("payouts/<int:pk>/", views.payout_detail, name="payout-detail"),
    path("payouts/<int:pk>/confirm/", views.payout_confirm, name="payout-confirm"),
    path("payouts/<int:pk>/export/<str:fmt>/", views.payout_export, name="payout-export"),
    path("my-payouts/", views.my_payouts, name="my-payouts"),
]
