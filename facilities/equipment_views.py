"""Pages of the register of telemedicine equipment and software and of stop-and-report follow-up
(JL-O7, art. 33, 34). Thin: each page reads through a scoped selector and writes through
``facilities.equipment``."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from telemed.pages import found, submit
from telemed.scope import Scope

from . import equipment, rules, selectors
from .choices import AssetStatus
from .forms import AssetForm, AssetStatusForm, FollowUpForm, MaintenanceForm
from .models import Suspension

GET_POST = require_http_methods(["GET", "POST"])


def _open_suspension(facility_id: int):
    """The facility's suspension in force, if any (JL-F5): the register links the two sides' report."""
    return Suspension.objects.filter(facility_id=facility_id, lifted_at__isnull=True).select_related("issuing_division").first()


def _may_keep(user, facility_id: int) -> bool:
    return Scope.of(user).has_role(facility_id, *equipment.KEEPERS)


@login_required
def asset_list(request):
    """The register: a facility's staff see their own, regulators their division's (JL-O1)."""
    today = timezone.localdate()
    assets = list(selectors.asset_list(user=request.user, facility_id=request.GET.get("facility", "")))
    for asset in assets:
        asset.overdue = rules.maintenance_overdue(next_due=asset.next_maintenance_due, status=asset.status, today=today)
    scope = Scope.of(request.user)
    context = {
        "assets": assets,
        "can_add": bool(scope.facilities_with_role(*equipment.KEEPERS)),
        "overdue": sum(1 for asset in assets if asset.overdue),
    }
    return render(request, "facilities/asset_list.html", context)


@login_required
@GET_POST
def asset_create(request):
    scope = Scope.of(request.user)
    facilities = selectors.facility_list(user=request.user).filter(id__in=scope.facilities_with_role(*equipment.KEEPERS))
    initial = {"facility": request.GET["facility"]} if request.GET.get("facility", "").isdigit() else {}
    form = AssetForm(request.POST or None, facilities=facilities, initial=initial)
    asset = submit(form, partial(equipment.asset_register, actor=request.user))
    if asset is not None:
        messages.success(request, _("已登记“%(name)s”。") % {"name": asset.name})
        return redirect("facilities:asset-detail", pk=asset.pk)
    return render(request, "facilities/asset_form.html", {"form": form})


@login_required
@GET_POST
def asset_detail(request, pk: int):
    asset = found(lambda user: selectors.asset_list(user=user).get(pk=pk), user=request.user)
    keeper = _may_keep(request.user, asset.facility_id)
    posted = request.POST.get("form") if request.method == "POST" and keeper else None
    maintenance_form = MaintenanceForm(request.POST if posted == "maintenance" else None, prefix="maintenance")
    status_form = AssetStatusForm(request.POST if posted == "status" else None, prefix="status")
    if submit(maintenance_form, partial(equipment.asset_maintenance_record, actor=request.user, asset=asset)):
        messages.success(request, _("维护记录已登记。"))
        return redirect("facilities:asset-detail", pk=pk)
    changed = submit(status_form, partial(equipment.asset_status_change, actor=request.user, asset=asset))
    if changed is not None:
        stopped = _open_suspension(asset.facility_id) if changed.essential and changed.status != AssetStatus.IN_SERVICE else None
        if stopped is not None:
            # JL-O7 (art. 34): say what the change did — the facility's telemedicine stopped and was reported.
            messages.warning(request, _(
                "%(facility)s 的远程医疗服务已立即暂停，并已报告%(division)s（发证机关）及辖区卫生健康行政部门"
                "（JL-O7 第三十四条）。只有发证机关可以解除暂停。"
            ) % {"facility": asset.facility.name, "division": stopped.issuing_division.name})
        else:
            messages.success(request, _("状态已变更。"))
        return redirect("facilities:asset-detail", pk=pk)
    context = {
        "asset": asset,
        "records": asset.maintenance.select_related("recorded_by"),
        "overdue": rules.maintenance_overdue(
            next_due=asset.next_maintenance_due, status=asset.status, today=timezone.localdate()
        ),
        "keeper": keeper,
        "open_suspension": _open_suspension(asset.facility_id),
        "maintenance_form": maintenance_form,
        "status_form": status_form,
    }
    return render(request, "facilities/asset_detail.html", context, status=400 if posted else 200)


@login_required
@GET_POST
def suspension_detail(request, pk: int):
    """JL-F5/JL-O7: a stop-and-report with its follow-up until the licensing regulator lifts it."""
    suspension = found(lambda user: selectors.suspension_list(user=user).get(pk=pk), user=request.user)
    scope = Scope.of(request.user)
    may_follow = suspension.lifted_at is None and (
        scope.has_role(suspension.facility_id, *equipment.KEEPERS) or scope.regulates(suspension.facility.division_id)
    )
    form = FollowUpForm(request.POST if request.method == "POST" and may_follow else None)
    if submit(form, partial(equipment.suspension_follow_up, actor=request.user, suspension=suspension)):
        messages.success(request, _("跟进情况已记录。"))
        return redirect("facilities:suspension-detail", pk=pk)
    context = {
        "suspension": suspension,
        "follow_ups": suspension.follow_ups.select_related("written_by"),
        "may_follow": may_follow,
        "can_lift": suspension.lifted_at is None and scope.is_division(suspension.issuing_division_id),
        "form": form,
    }
    return render(request, "facilities/suspension_detail.html", context, status=400 if form.is_bound else 200)
