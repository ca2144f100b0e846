"""Pages for a facility's administrators (issue 14): subscriptions and their delivery log.

Thin, over the same services and querysets as the API (STYLE 2, 3): out-of-scope rows are a 404;
a refusal becomes the form's errors. The secret is shown on the page that answers the creation,
once; no other page shows it.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from facilities.choices import StaffRole
from facilities.models import Facility
from telemed.errors import ApplicationError
from telemed.models import PartnerClient, WebhookDelivery, WebhookSubscription
from telemed.pages import paginate, raise_if_denied, submit
from telemed.scope import Scope

from . import rules, services


class SubscriptionForm(forms.Form):
    facility = forms.ModelChoiceField(label=gettext_lazy("医疗机构"), queryset=Facility.objects.none())
    client = forms.ModelChoiceField(
        label=gettext_lazy("对接应用"), queryset=PartnerClient.objects.none(), required=False,
        empty_label=gettext_lazy("全机构（不限应用）"),
        help_text=gettext_lazy("选定应用时，只推送其授权范围可读取的事件；应用吊销后订阅自动停用。"),
    )
    target_url = forms.CharField(label=gettext_lazy("接收地址"), max_length=500,
                                 help_text=gettext_lazy("http 或 https；不得包含用户名密码，不得为内网地址。"))
    event_types = forms.MultipleChoiceField(label=gettext_lazy("事件类型"), choices=rules.WebhookEventType.choices,
                                            widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(label=gettext_lazy("说明"), max_length=200, required=False)

    def __init__(self, *args, facility_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = Facility.objects.filter(pk__in=list(facility_ids)).order_by("name")
        self.fields["client"].queryset = (PartnerClient.objects.filter(facility_id__in=list(facility_ids), revoked_at__isnull=True)
                                          .select_related("application").order_by("name"))
        self.fields["client"].label_from_instance = lambda c: f"{c.name}（{c.client_id}）"


def _admin_facilities(request) -> list[int]:
    facility_ids = Scope.of(request.user).facilities_with_role(StaffRole.FACILITY_ADMIN)
    if not facility_ids:
        raise PermissionDenied(_("只有机构管理员可以管理事件推送订阅。"))
    return facility_ids


def _admins_subscriptions(request):
    return WebhookSubscription.objects.filter(facility_id__in=_admin_facilities(request))


@login_required
def subscription_list(request):
    rows = _admins_subscriptions(request).select_related("facility", "client__application").order_by("facility_id", "-created_at", "-id")
    return render(request, "webhooks/subscription_list.html", {"page_obj": paginate(request, rows)})


@login_required
@require_http_methods(["GET", "POST"])
def subscription_create(request):
    facility_ids = _admin_facilities(request)
    initial = {"facility": facility_ids[0]} if len(facility_ids) == 1 else {}
    form = SubscriptionForm(request.POST or None, facility_ids=facility_ids, initial=initial)
    created = submit(form, lambda **data: services.webhook_subscription_create(actor=request.user, **data))
    if created is not None:
        subscription, secret = created
        # Every page answers no-store (telemed.middleware), so the secret stays out of caches.
        return render(request, "webhooks/subscription_created.html", {"subscription": subscription, "secret": secret})
    return render(request, "webhooks/subscription_form.html", {"form": form})


@login_required
@require_POST
def subscription_disable(request, pk: int):
    subscription = get_object_or_404(_admins_subscriptions(request), pk=pk)
    services.webhook_subscription_disable(actor=request.user, subscription=subscription,
                                          reason=request.POST.get("reason", "")[:300])
    messages.success(request, _("已停用事件推送订阅。"))
    return redirect("webhooks:list")


@login_required
def delivery_list(request, pk: int):
    subscription = get_object_or_404(_admins_subscriptions(request).select_related("facility", "client__application"), pk=pk)
    rows = WebhookDelivery.objects.filter(subscription=subscription).select_related("event").order_by("-id")
    return render(request, "webhooks/delivery_list.html", {"subscription": subscription, "page_obj": paginate(request, rows)})


@login_required
@require_POST
def delivery_redeliver(request, pk: int):
    delivery = get_object_or_404(WebhookDelivery.objects.filter(subscription__in=_admins_subscriptions(request))
                                 .select_related("subscription"), pk=pk)
    try:
        services.webhook_redeliver(actor=request.user, delivery=delivery)
        messages.success(request, _("已安排重新推送。"))
    except ApplicationError as error:
        raise_if_denied(error)
        messages.error(request, error.message)
    return redirect("webhooks:deliveries", pk=delivery.subscription_id)
