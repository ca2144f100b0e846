"""Staff and regulator pages for facilities, agreements, physicians, duty, accreditation, suspension.

Thin on purpose (STYLE): every read goes through ``selectors.py`` (already scoped, so an object
outside the user's scope is a 404), every write through one call to ``services.py``. The write
forms are named after the service's keyword arguments, so a valid form is passed on whole. A
refusal is shown on the form with every reason it cites, keeping what the user typed; a
``permission_denied`` refusal (or any the service marks 403) is the 403 page with its message.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from audit.complaint_selectors import substantiated_by_year
from telemed.errors import ApplicationError
from telemed.pages import filter_values as _filters
from telemed.pages import found as _found
from telemed.pages import paginate as _paginate
from telemed.pages import raise_if_denied as _raise_if_denied
from telemed.pages import reason_texts as _reason_texts
from telemed.pages import stream as _stream
from telemed.pages import submit as _submit
from telemed.scope import Scope

from . import rules, selectors, services
from .choices import AccreditationStatus, AgreementStatus, StaffRole
from .evaluation import facility_results
from .forms import (
    AccreditationApplicationForm,
    AccreditationDecisionForm,
    AgreementFilterForm,
    AgreementForm,
    ApplicationFilterForm,
    DutyFilterForm,
    DutyShiftForm,
    FacilityFilterForm,
    PhysicianFilterForm,
    PhysicianQualificationsForm,
    PhysicianRegisterForm,
    ReasonForm,
    ServiceTypeForm,
    SuspensionFilterForm,
    SuspensionForm,
)

PAGE_SIZE = 25
SUMMARY_ROWS = 50  # agreements / physicians shown on a facility's page
ADMIN = StaffRole.FACILITY_ADMIN
COORDINATOR = StaffRole.COORDINATOR
GET_POST = require_http_methods(["GET", "POST"])


# --- Plumbing -------------------------------------------------------------------------------


def _list_page(request, template: str, form, queryset, **context):
    return render(request, template, {"form": form, "page_obj": _paginate(request, queryset), **context})


def _holds(scope: Scope, *roles: str) -> bool:
    return bool(scope.facilities_with_role(*roles))


def _require(request, *roles: str, message: str) -> Scope:
    scope = Scope.of(request.user)
    if not _holds(scope, *roles):
        raise PermissionDenied(message)
    return scope


def _own_facilities(request, *roles: str):
    """The user's facilities where they hold one of ``roles`` ."""
    scope = Scope.of(request.user)
    queryset = selectors.facility_list(user=request.user)
    return queryset.filter(id__in=scope.facilities_with_role(*roles))


def _initial_facility(request, *roles: str) -> dict:
    """Preselect the facility named in ``?facility=``, else the user's first one with ``roles``."""
    value = request.GET.get("facility", "")
    if value.isdigit():
        return {"facility": value}
    own = Scope.of(request.user).facilities_with_role(*roles)
    return {"facility": own[0]} if own else {}


# --- Facilities (JL-F1, JL-F5) --------------------------------------------------------------


@login_required
def facility_list(request):
    form = FacilityFilterForm(request.GET or None)
    f = _filters(form)
    queryset = selectors.facility_list(
        user=request.user,
        search=f.get("q", ""),
        division=f.get("division", ""),
        level=f.get("level", ""),
        accreditation=f.get("accreditation", ""),
    )
    return _list_page(request, "facilities/facility_list.html", form, queryset)


@login_required
def facility_detail(request, pk: int):
    facility = _found(selectors.facility_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    agreements = list(selectors.agreement_list(user=request.user, facility_id=pk)[: SUMMARY_ROWS + 1])
    physicians = list(selectors.physician_list(user=request.user, facility_id=pk)[: SUMMARY_ROWS + 1])
    suspension = selectors.suspension_list(user=request.user, open_only=True).filter(facility_id=pk).first()
    is_admin = scope.has_role(pk, ADMIN)
    may_suspend = is_admin or scope.has_role(pk, COORDINATOR) or scope.regulates(facility.division_id)
    context = {
        "facility": facility,
        "participation": selectors.facility_participation(facility),
        "agreements": agreements[:SUMMARY_ROWS],
        "more_agreements": len(agreements) > SUMMARY_ROWS,
        "physicians": physicians[:SUMMARY_ROWS],
        "more_physicians": len(physicians) > SUMMARY_ROWS,
        "suspension": suspension,
        "is_admin": is_admin,
        "can_see_metrics": is_admin or scope.regulates(facility.division_id),  # its scorecard (docs/metrics.md)
        # JL-O3 (art. 47): its yearly grades, the accountability flag and the barred principal
        "evaluations": facility_results(user=request.user, facility=facility),
        "can_suspend": suspension is None and may_suspend,
        "can_lift": suspension is not None and scope.is_division(suspension.issuing_division_id),
        # JL-O6: substantiated complaints per year, for those who handle or oversee them.
        "complaints_substantiated": (
            substantiated_by_year(facility_id=pk)
            if scope.has_role(pk, ADMIN, COORDINATOR) or scope.regulates(facility.division_id)
            else None
        ),
    }
    return render(request, "facilities/facility_detail.html", context)


def _admin_facility(request, pk: int):
    """A facility the user may see (else 404) and administers (else 403)."""
    facility = _found(selectors.facility_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    if not scope.has_role(pk, ADMIN):
        raise PermissionDenied(_("只有本机构管理员可以管理人员角色。"))
    return facility


@login_required
def staff_list(request, pk: int):
    """The facility's staff roles, for its administrator, who ends the role of someone who left."""
    facility = _admin_facility(request, pk)
    memberships = selectors.membership_list(user=request.user, facility_id=pk, active_only=False)
    return render(request, "facilities/staff_list.html", {"facility": facility, "memberships": memberships})


@login_required
@GET_POST
def staff_revoke(request, pk: int, membership_pk: int):
    """End a staff role (nothing is deleted); from then on the user's scope no longer includes it."""
    facility = _admin_facility(request, pk)
    membership = selectors.membership_list(user=request.user, facility_id=pk).filter(pk=membership_pk).first()
    if membership is None:
        raise Http404(_("未找到该人员角色，或已撤销。"))
    form = ReasonForm(request.POST or None)
    if _submit(form, partial(services.membership_revoke, actor=request.user, membership=membership)):
        messages.success(
            request,
            _("已撤销 %(user)s 在 %(facility)s 的“%(role)s”角色。")
            % {"user": membership.user.get_full_name() or membership.user.username, "facility": facility.name, "role": membership.get_role_display()},
        )
        return redirect("facilities:staff-list", pk=pk)
    return render(request, "facilities/staff_revoke.html", {"facility": facility, "membership": membership, "form": form})


# --- Cooperation agreements (JL-F2, JL-F3) --------------------------------------------------


@login_required
def agreement_list(request):
    form = AgreementFilterForm(request.GET or None, facilities=selectors.facility_list(user=request.user))
    f = _filters(form)
    facility = f.get("facility")
    queryset = selectors.agreement_list(
        user=request.user, facility_id=facility.pk if facility else None, status=f.get("status", "")
    )
    can_register = _holds(Scope.of(request.user), ADMIN)
    return _list_page(request, "facilities/agreement_list.html", form, queryset, can_register=can_register)


@login_required
def agreement_detail(request, pk: int):
    agreement = _found(selectors.agreement_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    party_admin = any(
        scope.has_role(p, ADMIN) for p in (agreement.inviting_id, agreement.invited_id)
    )
    checks = rules.invited_facility_checks(
        invited=agreement.invited, inviting=agreement.inviting, has_agreement=True, on=timezone.localdate()
    )
    context = {
        "agreement": agreement,
        "invited_checks": checks,
        "can_terminate": party_admin and agreement.status == AgreementStatus.ACTIVE,
    }
    return render(request, "facilities/agreement_detail.html", context)


@login_required
@GET_POST
def agreement_create(request):
    """Register a signed agreement (JL-F3); the service checks the invited facility (JL-F2)."""
    scope = _require(request, ADMIN, message=_("只有机构管理员可以登记合作协议。"))
    own = scope.facilities_with_role(ADMIN)
    form = AgreementForm(
        request.POST or None,
        request.FILES or None,
        initial={"inviting": own[0]} if own else {},
        facilities=selectors.agreement_party_choices(),
    )
    agreement = _submit(form, partial(services.agreement_register, actor=request.user))
    if agreement is not None:
        messages.success(request, _("合作协议 %(number)s 已登记。") % {"number": agreement.number})
        return redirect("facilities:agreement-detail", pk=agreement.pk)
    return render(request, "facilities/agreement_form.html", {"form": form})


@login_required
@GET_POST
def agreement_terminate(request, pk: int):
    agreement = _found(selectors.agreement_detail, user=request.user, pk=pk)
    form = ReasonForm(request.POST or None)
    if _submit(form, partial(services.agreement_terminate, actor=request.user, agreement=agreement)):
        messages.success(request, _("合作协议 %(number)s 已终止。") % {"number": agreement.number})
        return redirect("facilities:agreement-detail", pk=agreement.pk)
    return render(request, "facilities/agreement_terminate.html", {"agreement": agreement, "form": form})


@login_required
def agreement_signed_copy(request, pk: int):
    """The signed copy, for whoever may see the agreement (the parties, their regulators)."""
    agreement = _found(selectors.agreement_detail, user=request.user, pk=pk)
    return _stream(agreement.signed_copy, f"{agreement.number}{Path(agreement.signed_copy.name).suffix}")


# --- Physicians (JL-P1..P6) -----------------------------------------------------------------


@login_required
def physician_list(request):
    form = PhysicianFilterForm(request.GET or None, facilities=selectors.facility_list(user=request.user))
    f = _filters(form)
    facility = f.get("facility")
    queryset = selectors.physician_list(
        user=request.user,
        search=f.get("q", ""),
        facility_id=facility.pk if facility else None,
        title=f.get("title") or "",
        scope=f.get("scope", ""),
    )
    can_register = _holds(Scope.of(request.user), ADMIN)
    return _list_page(request, "facilities/physician_list.html", form, queryset, can_register=can_register)


@login_required
def physician_detail(request, pk: int):
    physician = _found(selectors.physician_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    table = selectors.physician_qualification_table(physician, on=timezone.localdate())
    for row in table:
        row["can_manage"] = scope.has_role(row["registration"].facility_id, ADMIN)
    is_self = physician.user_id is not None and physician.user_id == request.user.pk
    context = {
        "physician": physician,
        "table": table,
        "entries": physician.assessment_entries.all(),
        "can_platform_register": physician.platform_registered_at is None
        and (is_self or any(row["can_manage"] for row in table)),
    }
    return render(request, "facilities/physician_detail.html", context)


@login_required
@GET_POST
def physician_create(request):
    """Register a physician at one of the user's facilities (JL-P2); the service audits it."""
    _require(request, ADMIN, message=_("只有机构管理员可以登记医务人员。"))
    form = PhysicianRegisterForm(
        request.POST or None,
        initial=_initial_facility(request, ADMIN),
        facilities=_own_facilities(request, ADMIN),
    )
    registration = _submit(form, partial(services.physician_register, actor=request.user))
    if registration is not None:
        messages.success(
            request,
            _("已登记 %(name)s 在 %(facility)s 的执业注册。")
            % {"name": registration.physician.name, "facility": registration.facility.name},
        )
        return redirect("facilities:physician-detail", pk=registration.physician_id)
    return render(request, "facilities/physician_form.html", {"form": form})


def _act(request, write, done: str, redirect_to):
    """A button without a form: the refusal and its reasons become error messages."""
    try:
        write()
    except ApplicationError as error:
        _raise_if_denied(error)
        for text in _reason_texts(error) or [error.message]:
            messages.error(request, text)
    else:
        messages.success(request, done)
    return redirect_to


@login_required
@require_POST
def physician_platform_register(request, pk: int):
    """JL-P3 (art. 14.3): the physician, or their facility's administrator, records it."""
    physician = _found(selectors.physician_detail, user=request.user, pk=pk)
    return _act(
        request,
        partial(services.physician_platform_register, actor=request.user, physician=physician),
        _("已记录 %(name)s 在省远程医疗平台的注册。") % {"name": physician.name},
        redirect("facilities:physician-detail", pk=pk),
    )


REGISTRATION_ACTIONS = {
    # JL-P3 (art. 14.3): the facility confirms the platform registration.
    "verify": (services.registration_verify, gettext_lazy("%(facility)s 已核验 %(name)s 的平台注册。")),
    # JL-P6 (art. 30): the facility authorises the physician to act for it, or withdraws that.
    "authorise": (
        services.registration_authorise,
        gettext_lazy("%(facility)s 已授权 %(name)s 开展远程医疗服务。"),
    ),
    "revoke": (
        services.registration_revoke_authorisation,
        gettext_lazy("%(facility)s 已撤销 %(name)s 的远程医疗授权。"),
    ),
}


@login_required
@require_POST
def registration_action(request, pk: int, registration_pk: int, action: str):
    physician = _found(selectors.physician_detail, user=request.user, pk=pk)
    registration = next((r for r in physician.registrations.all() if r.pk == registration_pk), None)
    if registration is None:
        raise Http404(_("未找到该执业注册。"))
    service, done = REGISTRATION_ACTIONS[action]
    return _act(
        request,
        partial(service, actor=request.user, registration=registration),
        str(done) % {"name": physician.name, "facility": registration.facility.name},
        redirect("facilities:physician-detail", pk=pk),
    )


@login_required
@GET_POST
def physician_qualifications(request, pk: int, registration_pk: int):
    """JL-P1, P4, P5: the administrator of a facility where the physician is registered records a
    renewed certificate, a new title or changed scopes; every later JL-P check sees the new data."""
    physician = _found(selectors.physician_detail, user=request.user, pk=pk)
    registration = next((r for r in physician.registrations.all() if r.pk == registration_pk), None)
    if registration is None:
        raise Http404(_("未找到该执业注册。"))
    scope = Scope.of(request.user)
    if not scope.has_role(registration.facility_id, ADMIN):
        raise PermissionDenied(_("只有该医师执业机构的管理员可以更新其资质信息。"))
    initial = {
        "certificate_number": physician.certificate_number,
        "certificate_valid_until": physician.certificate_valid_until,
        "certificate_revoked": physician.certificate_revoked,
        "title": physician.title,
        "scopes": physician.scopes,
    }
    form = PhysicianQualificationsForm(request.POST or None, initial=initial)
    write = partial(services.physician_update_qualifications, actor=request.user, physician=physician, facility=registration.facility)
    if _submit(form, write):
        messages.success(request, _("已更新 %(name)s 的执业证书、职称和执业范围。") % {"name": physician.name})
        return redirect("facilities:physician-detail", pk=pk)
    context = {"physician": physician, "registration": registration, "form": form}
    return render(request, "facilities/physician_qualifications.html", context)


# --- Duty roster (JL-F4) --------------------------------------------------------------------


@login_required
def duty_list(request):
    scope = Scope.of(request.user)
    facilities = selectors.facility_list(user=request.user)
    if not scope.is_regulator:
        facilities = facilities.filter(id__in=scope.facility_ids)
    form = DutyFilterForm(request.GET or None, facilities=facilities)
    facility = _filters(form).get("facility")
    queryset = selectors.duty_list(
        user=request.user, facility_id=facility.pk if facility else None, start=timezone.now()
    )
    can_add = _holds(scope, ADMIN, COORDINATOR)
    return _list_page(request, "facilities/duty_list.html", form, queryset, can_add=can_add)


@login_required
@GET_POST
def duty_create(request):
    scope = _require(request, ADMIN, COORDINATOR, message=_("只有机构管理员或远程医疗专职管理人员可以排班。"))
    physicians = selectors.physician_list(user=request.user)
    physicians = physicians.filter(registrations__facility_id__in=scope.facilities_with_role(ADMIN, COORDINATOR))
    form = DutyShiftForm(
        request.POST or None,
        initial=_initial_facility(request, ADMIN, COORDINATOR),
        facilities=_own_facilities(request, ADMIN, COORDINATOR),
        physicians=physicians,
    )
    if _submit(form, partial(services.duty_shift_add, actor=request.user)):
        messages.success(request, _("值班已添加。"))
        return redirect("facilities:duty-list")
    return render(request, "facilities/duty_form.html", {"form": form})


# --- Accreditation (JL-F1) ------------------------------------------------------------------


@login_required
def application_list(request):
    form = ApplicationFilterForm(request.GET or None)
    queryset = selectors.application_list(user=request.user, status=_filters(form).get("status", ""))
    can_apply = _holds(Scope.of(request.user), ADMIN)
    return _list_page(request, "facilities/application_list.html", form, queryset, can_apply=can_apply)


@login_required
@GET_POST
def application_create(request):
    """A facility administrator applies with the seven conditions of art. 13 (JL-F1)."""
    _require(request, ADMIN, message=_("只有机构管理员可以申请评估验收。"))
    form = AccreditationApplicationForm(
        request.POST or None,
        request.FILES or None,
        initial=_initial_facility(request, ADMIN),
        facilities=_own_facilities(request, ADMIN),
    )

    def apply(*, facility, **_conditions):
        items = [services.AccreditationItemInput(**item) for item in form.items()]
        return services.accreditation_apply(actor=request.user, facility=facility, items=items)

    application = _submit(form, apply)
    if application is not None:
        messages.success(request, _("评估验收申请已提交，等待省卫生健康委审核。"))
        return redirect("facilities:application-detail", pk=application.pk)
    return render(request, "facilities/application_form.html", {"form": form})


def _application_page(request, application, decision_form, *, status: int = 200):
    items = list(application.items.all())
    can_decide = (
        Scope.of(request.user).is_provincial_regulator and application.status == AccreditationStatus.PENDING
    )
    context = {
        "application": application,
        "items": items,
        "completeness": rules.accreditation_completeness([item.condition for item in items]),
        "decision_form": decision_form if can_decide else None,
    }
    return render(request, "facilities/application_detail.html", context, status=status)


@login_required
def application_detail(request, pk: int):
    application = _found(selectors.application_detail, user=request.user, pk=pk)
    return _application_page(request, application, AccreditationDecisionForm())


@login_required
def application_evidence(request, pk: int, item_pk: int):
    application = _found(selectors.application_detail, user=request.user, pk=pk)
    item = next((i for i in application.items.all() if i.pk == item_pk), None)
    if item is None:
        raise Http404(_("未找到该证明材料。"))
    return _stream(item.evidence, Path(item.evidence.name).name)


@login_required
@require_POST
def application_decide(request, pk: int):
    """Only the provincial regulator approves or rejects, a rejection with its reason (JL-F1, art. 10)."""
    application = _found(selectors.application_detail, user=request.user, pk=pk)
    form = AccreditationDecisionForm(request.POST)

    def decide(*, decision: str, reason: str):
        approve = decision == "approve"
        services.accreditation_decide(
            actor=request.user, application=application, approve=approve, reason=reason
        )
        return _("评估验收申请已通过。") if approve else _("已作出不予通过的决定。")

    done = _submit(form, decide)
    if done:
        messages.success(request, done)
        return redirect("facilities:application-detail", pk=pk)
    if not Scope.of(request.user).is_provincial_regulator:
        raise PermissionDenied(_("JL-F1 第十条: 评估验收由省卫生健康委审核。"))
    return _application_page(request, application, form, status=400)


# --- Suspension (JL-F5) ---------------------------------------------------------------------


@login_required
def suspension_list(request):
    form = SuspensionFilterForm(request.GET or None)
    queryset = selectors.suspension_list(user=request.user, open_only=bool(_filters(form).get("open_only")))
    scope = Scope.of(request.user)
    page_obj = _paginate(request, queryset)
    for suspension in page_obj:
        suspension.can_lift = suspension.lifted_at is None and scope.is_division(
            suspension.issuing_division_id
        )
    context = {
        "form": form,
        "page_obj": page_obj,
        "can_report": scope.is_regulator or _holds(scope, ADMIN, COORDINATOR),
    }
    return render(request, "facilities/suspension_list.html", context)


@login_required
@GET_POST
def suspension_create(request):
    """Staff report for their own facility; a regulator orders it for one in their division (art. 34)."""
    scope = Scope.of(request.user)
    if scope.is_regulator:
        facilities = selectors.facility_list(user=request.user)
    else:
        _require(
            request,
            ADMIN,
            COORDINATOR,
            message=_("只有本机构管理人员或辖区卫生健康行政部门可以暂停远程医疗服务。"),
        )
        facilities = _own_facilities(request, ADMIN, COORDINATOR)
    form = SuspensionForm(
        request.POST or None, initial=_initial_facility(request, ADMIN, COORDINATOR), facilities=facilities
    )
    suspension = _submit(form, partial(services.suspension_report, actor=request.user))
    if suspension is not None:
        messages.warning(
            request,
            _("%(facility)s 已暂停远程医疗服务，已报告发证机关（%(division)s）。")
            % {"facility": suspension.facility.name, "division": suspension.issuing_division.name},
        )
        return redirect("facilities:suspension-list")
    return render(request, "facilities/suspension_form.html", {"form": form})


@login_required
@GET_POST
def suspension_lift(request, pk: int):
    """JL-F5 (art. 34): only the regulator that issued the facility's licence lifts a suspension."""
    suspension = _found(lambda user: selectors.suspension_list(user=user).get(pk=pk), user=request.user)
    check = rules.suspension_lift_check(
        issuing_division_code=suspension.issuing_division_id,
        regulator_division_codes=[code for code, _prefix in Scope.of(request.user).regulated],
    )
    form = ReasonForm(request.POST or None)
    if _submit(form, partial(services.suspension_lift, actor=request.user, suspension=suspension)):
        messages.success(request, _("%(facility)s 的暂停已解除。") % {"facility": suspension.facility.name})
        return redirect("facilities:suspension-list")
    context = {"suspension": suspension, "lift_checks": [check], "can_lift": check.passed, "form": form}
    return render(request, "facilities/suspension_lift.html", context)


# --- Service types (JL-C1) ------------------------------------------------------------------


@login_required
def service_type_list(request):
    """JL-C1 (art. 3): the catalogue; the provincial regulator adds to it."""
    context = {
        "service_types": selectors.service_type_catalogue(),
        "can_add": Scope.of(request.user).is_provincial_regulator,
    }
    return render(request, "facilities/service_type_list.html", context)


@login_required
@GET_POST
def service_type_create(request):
    if not Scope.of(request.user).is_provincial_regulator:
        raise PermissionDenied(_("JL-C1 第三条: 只有省卫生健康委可以增加远程医疗服务项目。"))
    form = ServiceTypeForm(request.POST or None)
    service_type = _submit(form, partial(services.service_type_add, actor=request.user))
    if service_type is not None:
        messages.success(request, _("已增加服务项目“%(name)s”。") % {"name": service_type.name})
        return redirect("facilities:service-type-list")
    return render(request, "facilities/service_type_form.html", {"form": form})
