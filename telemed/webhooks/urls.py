"""Pages of the webhooks (issue 14) under /webhooks/."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path("<int:pk>/disable/", views.subscription_disable, name="disable"),
    path("<int:pk>/deliveries/", views.delivery_list, name="deliveries"),
    path("deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
