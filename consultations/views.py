"""Pages of the consultations app: the work lists, the new-request wizard, the case page, the
24-hour obligations (JL-C2), violations and notifications.

Thin on purpose, like ``facilities.views``: every read goes through ``selectors`` (already scoped,
so a case outside the user's scope is a 404 — the invited side does not see a draft), every write
through one call to ``services``. A refusal is shown on the form that caused it with every reason
it cites, keeping what the user typed, on the page it came from; a ``permission_denied`` refusal is
the 403 page. Which actions a case page offers comes from ``rules.decide_transition`` through
``selectors.consultation_allowed_actions``; the services decide again and are the authority.

Medical records under the law (JL-C8, JL-C9, art. 35 "管控和追溯合一"): every page that shows patient
data writes its access (调阅) before it renders — ``record.view`` for a case or a patient,
``record.list`` with the rows on the page for a list or a search, ``record.download`` for a file,
``record.reveal`` for the full identity number. A sealed record is shown, and its files are
served, only after the reader stated a purpose on ``audit:sealed-access``; that purpose goes with
every access they make. Identity and phone numbers are masked everywhere
(``consultations.rules.mask_number``); on the case page the patient's own hospital may reveal them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from audit.records import open_seal, record_access, record_list_access
from audit.selectors import case_record_panel, sealed_access_needed
from facilities.choices import StaffRole
from facilities.models import Facility
from telemed.navigation import UNREAD_SESSION_KEY
from telemed.pages import found as _found
from telemed.pages import paginate as _paginate
from telemed.pages import stream as _stream
from telemed.pages import submit as _submit
from telemed.scope import Scope

from . import list_rows, report_rules, rules, selectors, services
from .case_steps import next_steps
from .choices import ConsultationState, ObligationState, RaterKind, Side, TriggerKind
from .forms import (
    AdmissionForm,
    ConfirmForm,
    ConsentForm,
    ConsultationRequestForm,
    DiagnosisForm,
    DocumentForm,
    ExpertAssignForm,
    ExpertConsultFailedForm,
    NotificationFilterForm,
    ObligationFilterForm,
    ParticipantForm,
    PatientRegisterForm,
    PatientRequestForm,
    RatingForm,
    ReasonForm,
    ReferralFilterForm,
    ReferralOfferForm,
    ReturnMaterialForm,
    ScheduleForm,
    WithdrawForm,
)
from .models import Consultation
from .report_forms import OpinionCorrectForm, OpinionSignForm

PAGE_SIZE = 25
PATIENT_RESULTS = 20
GET_POST = require_http_methods(["GET", "POST"])
S = ConsultationState
# Who records clinical data and prepares requests for a facility (as services.patients).
CLINICAL = (StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)
INVITED_COORDINATION = (StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)
PREPARE_STATES = (S.DRAFT, S.RETURNED)  # consent and attending physician (services._require_open_draft)
UPLOAD_STATES = (S.DRAFT, S.RETURNED, S.SENT, S.ACCEPTED, S.SCHEDULED)  # as services.document_upload
ASSIGN_STATES = (S.ACCEPTED, S.SCHEDULED, S.IN_SESSION)  # as services.expert_assign
# What the case page's timeline and access record show of each audit event (_case_timeline.html).
TIMELINE_FIELDS = ("occurred_at", "event_type", "outcome", "actor_label", "details", "sequence")
# JL-C8: the case page lists the latest accesses to the case, with their total (issue 11: every view adds one).
ACCESSES_SHOWN = 50


# --- Plumbing -------------------------------------------------------------------------------


def _log_list(request, what: str, rows, filters: dict, *, searched: bool = False) -> list:
    """JL-C8: a list that shows patient data is an access to the records on the page
    (``record.list`` naming them). A search is logged even when it finds nobody: what was looked
    for is on record too (numbers masked, JL-C9). Returns the rows."""
    rows = list(rows)
    if rows or searched:
        record_list_access(
            actor=request.user,
            what=what,
            rows=rows,
            filters=selectors.access_filters({**filters, "page": request.GET.get("page", "")}),
        )
    return rows


def _to_sealed_access(consultation_id: int, next_url: str):
    target = reverse("audit:sealed-access", args=[consultation_id])
    return redirect(f"{target}?{urlencode({'next': next_url})}")


def _sealed_purpose(request, consultation, seal) -> str | None:
    """JL-C8 (art. 37): the purpose this reader stated for the open ``seal``, or None when they
    must state one first (this session has not, or stated it for an earlier seal)."""
    if seal is None:
        return ""
    if sealed_access_needed(session=request.session, consultation_id=consultation.pk):
        return None
    return selectors.sealed_access_purpose(user=request.user, consultation=consultation, seal=seal) or None


def _clinical_facilities(request):
    """The user's facilities where they prepare requests; a 403 when there is none."""
    ids = Scope.of(request.user).facilities_with_role(*CLINICAL)
    if not ids:
        raise PermissionDenied(_("只有本机构的临床医师或远程医疗管理人员可以发起远程医疗申请。"))
    return Facility.objects.filter(pk__in=ids).order_by("name")


# --- Work lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    states: tuple[str, ...]


INVITING_TABS = (
    Tab("drafts", gettext_lazy("草稿与退回补充"), (S.DRAFT, S.RETURNED)),
    Tab("sent", gettext_lazy("已发送待受理"), (S.SENT,)),
    Tab("awaiting", gettext_lazy("等待意见"), (S.ACCEPTED, S.SCHEDULED, S.IN_SESSION)),
    Tab("signed", gettext_lazy("意见已签发"), (S.SIGNED,)),
    Tab("closed", gettext_lazy("已结束"), (S.CLOSED, S.DECLINED, S.CANCELLED)),
    Tab("all", gettext_lazy("全部"), ()),
)
INVITED_TABS = (
    Tab("todo", gettext_lazy("待处理"), (S.SENT, S.ACCEPTED, S.SCHEDULED, S.IN_SESSION)),
    Tab("signed", gettext_lazy("已签发"), (S.SIGNED,)),
    Tab("closed", gettext_lazy("已结束"), (S.CLOSED, S.DECLINED, S.CANCELLED)),
    Tab("all", gettext_lazy("全部"), ()),
)
OBLIGATIONS_TAB = "obligations"


@login_required
def consultation_list(request):
    """``?side=inviting``: requests my facilities send, with their open JL-C2 obligations as the
    first tab; ``?side=invited``: my inbox, awaiting acceptance first. ``q`` searches the request
    number or the patient's name."""
    side = request.GET.get("side", "")
    side = side if side in (Side.INVITING, Side.INVITED) else ""
    tabs = (
        INVITING_TABS
        if side == Side.INVITING
        else INVITED_TABS
        if side == Side.INVITED
        else INVITING_TABS[-1:]
    )
    search = request.GET.get("q", "").strip()[:50]
    counts = selectors.consultation_state_counts(user=request.user, side=side)
    tab_counts = [
        (tab, sum(counts.get(s, 0) for s in tab.states) if tab.states else sum(counts.values()))
        for tab in tabs
    ]
    keys = [tab.key for tab in tabs] + ([OBLIGATIONS_TAB] if side == Side.INVITING else [])
    current = request.GET.get("tab", "")
    current = current if current in keys else tabs[0].key
    can_create = bool(Scope.of(request.user).facilities_with_role(*CLINICAL))
    context = {
        "side": side, "tabs": tab_counts, "current": current, "q": search, "can_create": can_create,
        "tabs_html": list_rows.tabs_html(tab_counts, side=side, current=current, q=search),
    }
    if side == Side.INVITING:
        context["obligation_count"] = selectors.open_obligation_count(user=request.user)
        if current == OBLIGATIONS_TAB:
            obligations = selectors.obligation_list(user=request.user).filter(
                facility_id__in=Scope.of(request.user).facility_ids
            )
            context["page_obj"] = _paginate(request, obligations)
            _log_list(request, "consultations.obligation", context["page_obj"], {"side": side, "tab": current})
            return render(request, "consultations/list.html", context)
    states = next(tab.states for tab in tabs if tab.key == current)
    # Issue 11: the page's rows as plain values, written by list_rows (no model instances). Without
    # a search the tab's count is the list's count (the same visible rows on the same side in the
    # tab's states), so the paginator does not read the facility's cases again, and facility staff
    # read the rows with a statement compiled once (``selectors.consultation_work_rows``). A search
    # counts the model's rows (joining the patient only, not every table the page reads). A tab past
    # the cap (``list_rows.TAB_COUNT_CAP``) is counted exactly for its own pages only.
    if search:
        queryset = selectors.consultation_work_list(user=request.user, side=side, states=states, search=search)
        known, rows = queryset.count(), list_rows.values(queryset)
    else:
        known = next(n for tab, n in tab_counts if tab.key == current)
        if known > list_rows.TAB_COUNT_CAP:  # the tab shows "999+"; the paginator counts exactly
            known = selectors.consultation_tab_count(user=request.user, side=side, states=states)
        rows = selectors.consultation_work_rows(user=request.user, side=side, states=states)
    page_obj = context["page_obj"] = _paginate(request, rows, count=known)
    page_obj.object_list = list_rows.rows(page_obj.object_list)
    if side == Side.INVITED:  # JL-C4: how long each request awaiting acceptance has waited
        context["now"] = timezone.now()
        page_obj.object_list = selectors.with_response_clocks(page_obj.object_list, now=context["now"])
    context["rows_html"] = list_rows.rows_html(page_obj.object_list, side=side)
    _log_list(
        request, "consultations.consultation", context["page_obj"], {"side": side, "tab": current, "q": search},
        searched=bool(search),
    )
    return render(request, "consultations/list.html", context)


@login_required
def assigned_list(request):
    """分配给我 (issue 12): the cases where I am the assigned expert and my opinion or report is still
    due, most urgent first, with the scheduled, requested and waiting times. A list access (JL-C8)."""
    queryset = selectors.expert_assigned_list(user=request.user)
    page_obj = _paginate(request, queryset)
    _log_list(request, "consultations.consultation", page_obj, {"list": "assigned"})
    return render(request, "consultations/assigned_list.html", {"page_obj": page_obj, "now": timezone.now()})


@login_required
def record_search(request):
    """Issue 12: one search box over the patients and cases in the user's scope. Every search is a
    list access (JL-C8), logged even when it finds nothing, the query kept masked (JL-C9); the
    identity numbers on the page are masked."""
    search = request.GET.get("q", "").strip()[:50]
    patients, cases = selectors.record_search(user=request.user, term=search) if search else ([], [])
    if search:
        filters = {"q": search}
        _log_list(request, "consultations.patient", patients, filters, searched=True)
        _log_list(request, "consultations.consultation", cases, filters, searched=True)
    return render(request, "consultations/search.html", {
        "q": search, "patients": patients, "cases": cases, "limit": selectors.SEARCH_LIMIT, "searched": bool(search),
    })


# --- New request: (a) patient ---------------------------------------------------------------


def _patient_results(request, facilities, search: str):
    """Patients matching ``search`` in the user's facilities; the lookup itself is logged (JL-C8)."""
    if not search:
        return None
    results = selectors.patient_search(user=request.user, facility_ids=[f.pk for f in facilities], search=search)
    return _log_list(request, "consultations.patient", results[:PATIENT_RESULTS], {"q": search}, searched=True)


@login_required
@GET_POST
def consultation_create(request):
    """Step 1: pick a patient of the facility (search) or register a new one."""
    facilities = _clinical_facilities(request)
    search = request.GET.get("q", "").strip()[:50]
    form = PatientRegisterForm(
        request.POST or None, facilities=facilities, initial={"facility": facilities[0].pk}
    )
    patient = (
        _submit(form, partial(services.patient_register, actor=request.user))
        if request.method == "POST"
        else None
    )
    if patient is not None:
        messages.success(request, _("已登记患者 %(name)s。") % {"name": patient.name})
        return redirect("consultations:create-request", patient_pk=patient.pk)
    context = {
        "form": form,
        "q": search,
        "patients": _patient_results(request, facilities, search),
        "step": 1,
    }
    return render(request, "consultations/create_patient.html", context)


# --- New request: (b) destination and (c) invitation ---------------------------------------


@login_required
@GET_POST
def consultation_create_request(request, patient_pk: int):
    """Step 2: only invited facilities and service types that an agreement in force today allows
    are offered (JL-F3); the draft is created by ``services.consultation_create`` (JL-C1, JL-C4)."""
    patient = _found(selectors.patient_detail, user=request.user, pk=patient_pk)
    if not Scope.of(request.user).has_role(patient.facility_id, *CLINICAL):
        raise PermissionDenied(_("只有本机构的临床医师或远程医疗管理人员可以发起远程医疗申请。"))
    if request.method == "GET" and "new" not in request.GET:
        # "Start a request" for a patient who already has a draft opens that draft (the obligation it
        # meets is the same) instead of starting a second one; "new" still starts another.
        draft = selectors.patient_open_draft(user=request.user, patient=patient)
        if draft is not None:
            another = reverse("consultations:create-request", args=[patient.pk]) + "?new=1"
            messages.info(request, format_html(
                _("该患者已有草稿申请 {number}，已为您打开，避免重复申请。如确需另发一份，请<a href=\"{url}\">仍然新建</a>。"),
                number=draft.number, url=another,
            ))
            return redirect("consultations:detail", pk=draft.pk)
    agreements = list(
        selectors.agreement_destinations(
            user=request.user, inviting_id=patient.facility_id, on=timezone.localdate()
        )
    )
    form = ConsultationRequestForm(
        request.POST or None, agreements=agreements, admissions=patient.admissions.all()
    )
    if request.method == "POST":
        write = partial(
            services.consultation_create, actor=request.user, inviting=patient.facility, patient=patient
        )
        consultation = _submit(form, write)
        if consultation is not None:
            messages.success(
                request,
                _("申请 %(n)s 已保存为草稿。请完成知情同意、经治医师和资料上传后发送。")
                % {"n": consultation.number},
            )
            return redirect("consultations:detail", pk=consultation.pk)
    record_access(
        actor=request.user, action="view", patient=patient, purpose=_("发起远程医疗申请"),
        details={"page": "create-request"},
    )
    context = {"form": form, "patient": patient, "agreements": agreements, "step": 2}
    return render(request, "consultations/create_request.html", context)


# --- The case page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseAction:
    """A write on the case page: its form, the service it calls, what the user is told."""

    form: type
    service: object
    done: str
    anchor: str = "actions"


def _sign(*, actor, consultation, content="", structure=None, recommends_transfer=False, transfer_reason=""):
    return services.opinion_sign(
        actor=actor, consultation=consultation, content=content, structure=structure,
        recommends_transfer=recommends_transfer, transfer_reason=transfer_reason,
    )


def _correct(*, actor, consultation, correction_reason, content="", structure=None, recommends_transfer=False, transfer_reason=""):
    latest = consultation.opinions.order_by("-version").first()
    return services.opinion_sign(
        actor=actor,
        consultation=consultation,
        content=content,
        structure=structure,
        corrects=latest,
        correction_reason=correction_reason,
        recommends_transfer=recommends_transfer,
        transfer_reason=transfer_reason,
    )


CASE_ACTIONS = {
    "consent": CaseAction(ConsentForm, services.consent_record, gettext_lazy("知情同意已记录。"), "prepare"),
    "participant": CaseAction(
        ParticipantForm, services.participant_add_inviting, gettext_lazy("经治医师已加入。"), "prepare"
    ),
    "document": CaseAction(DocumentForm, services.document_upload, gettext_lazy("资料已上传。"), "documents"),
    "send": CaseAction(ConfirmForm, services.consultation_send, gettext_lazy("申请已发送至受邀方。")),
    "accept": CaseAction(ConfirmForm, services.consultation_accept, gettext_lazy("已受理。")),
    "decline": CaseAction(ReasonForm, services.consultation_decline, gettext_lazy("已拒绝该申请。")),
    "return_material": CaseAction(
        ReturnMaterialForm, services.consultation_return_material, gettext_lazy("已退回补充资料。")
    ),
    "assign": CaseAction(ExpertAssignForm, services.expert_assign, gettext_lazy("已指定会诊专家。")),
    "schedule": CaseAction(ScheduleForm, services.consultation_schedule, gettext_lazy("已排期。")),
    "start_session": CaseAction(
        ConfirmForm, services.consultation_start_session, gettext_lazy("会诊已开始。")
    ),
    "sign": CaseAction(OpinionSignForm, _sign, gettext_lazy("已签发。"), "opinions"),
    "correct": CaseAction(OpinionCorrectForm, _correct, gettext_lazy("更正版本已签发。"), "opinions"),
    "close": CaseAction(
        ConfirmForm, services.consultation_close, gettext_lazy("已确认收到意见/报告，服务结束。")
    ),
    "cancel": CaseAction(ReasonForm, services.consultation_cancel, gettext_lazy("申请已取消。")),
    "rate": CaseAction(RatingForm, services.rating_record, gettext_lazy("评价已记录。"), "ratings"),
    "referral_offer": CaseAction(
        ReferralOfferForm, services.referral_offer, gettext_lazy("已提供转诊安排，等待对方确认（JL-C10）。"), "referrals"
    ),
}
REASON_LABELS = {
    "decline": gettext_lazy("拒绝理由"),
    "cancel": gettext_lazy("取消原因"),
}


def _form_options(action: str, consultation: Consultation, user) -> dict:
    """The choice lists a case form needs (physicians of a facility, the case's documents)."""
    if action == "participant":
        return {
            "physicians": selectors.physicians_registered_at(user=user, facility_id=consultation.inviting_id)
        }
    if action == "assign":
        return {
            "physicians": selectors.physicians_registered_at(user=user, facility_id=consultation.invited_id),
            "offered": selectors.expert_candidates(user=user, consultation=consultation, on=timezone.localdate()),
        }
    if action == "return_material":
        return {"documents": consultation.documents.all()}
    if action == "rate":
        used = {r.rater_kind for r in consultation.ratings.all()}
        return {"rater_kinds": [k for k in RaterKind.values if k not in used]}
    if action in REASON_LABELS:
        return {"label": REASON_LABELS[action]}
    if action == "referral_offer":
        return {"directions": selectors.referral_offerable(user=user, consultation=consultation)}
    if action in ("sign", "correct"):  # JL-C11: the service type's report template
        sections = report_rules.template_sections(consultation.service_type.report_template, consultation.modality)
        opinions = list(consultation.opinions.all())
        return {"sections": sections, "previous": opinions[-1] if action == "correct" and opinions else None}
    return {}


def _initial(action: str, user) -> dict:
    """The attending physician is most often the user themself (the user's physician is read only
    for that form: it is a query)."""
    if action != "participant":
        return {}
    physician_id = getattr(getattr(user, "physician", None), "pk", None)
    return {"physician": physician_id} if physician_id else {}


def _offered(user, consultation: Consultation, sealed: bool) -> list[str]:
    """The case actions this user may take now: the graph's by ``rules.decide_transition``, the
    others by role and state as the services check them. Nothing while the record is sealed."""
    if sealed:
        return []
    scope = Scope.of(user)
    offered = list(selectors.consultation_allowed_actions(user=user, consultation=consultation))
    if "correct" in offered and not consultation.opinions.all():
        offered.remove("correct")
    inviting_clinical = scope.has_role(consultation.inviting_id, *CLINICAL)
    if inviting_clinical and consultation.state in PREPARE_STATES:
        offered += ["consent", "participant"]
    if inviting_clinical and consultation.state in UPLOAD_STATES:
        offered.append("document")
    if scope.has_role(consultation.invited_id, *INVITED_COORDINATION) and consultation.state in ASSIGN_STATES:
        offered.append("assign")
    if (
        inviting_clinical
        and consultation.state == S.CLOSED
        and _form_options("rate", consultation, user)["rater_kinds"]
    ):
        offered.append("rate")
    if selectors.referral_offerable(user=user, consultation=consultation):
        offered.append("referral_offer")
    return offered


def _readiness(consultation: Consultation, consent) -> list:
    """Before sending: every JL-F check for this pair today, JL-C3 consent and attending physician,
    JL-C2 material — the same checks ``services.consultation_send`` runs (material is advisory)."""
    participants_ok = any(p.side == Side.INVITING for p in consultation.participants.all())
    kinds = [d.kind for d in consultation.documents.all() if d.returned_at is None]
    checks = [
        *services.facility_checks(consultation),
        *rules.consent_checks(consent, participants_ok=participants_ok),
        rules.material_check(kinds),
    ]
    # JL-F1 and JL-F5 are checked for each facility; a check both pass is listed once (a failing
    # one names its facility in its detail).
    return list(dict.fromkeys(checks))


# --- JL-C10: the referral steps on the case page -----------------------------------------------


@dataclass(frozen=True)
class ReferralStep:
    form: type
    service: object
    button: str
    done: str
    danger: bool = False
    reason_label: str = ""


REFERRAL_STEPS = {
    "confirm": ReferralStep(ConfirmForm, services.referral_confirm, gettext_lazy("确认转诊安排"), gettext_lazy("已确认转诊安排。")),
    "transfer": ReferralStep(ConfirmForm, services.referral_transfer, gettext_lazy("登记患者已转出"), gettext_lazy("已登记患者转出。")),
    "decline": ReferralStep(ReasonForm, services.referral_decline, gettext_lazy("谢绝"), gettext_lazy("已谢绝该转诊安排。"),
                            danger=True, reason_label=gettext_lazy("谢绝理由")),
    "cancel": ReferralStep(ReasonForm, services.referral_cancel, gettext_lazy("取消转诊"), gettext_lazy("转诊已取消。"),
                           danger=True, reason_label=gettext_lazy("取消理由")),
}


def _referral_form(action: str, referral, data=None):
    step = REFERRAL_STEPS[action]
    options = {"label": step.reason_label} if step.reason_label else {}
    return step.form(data, prefix=f"referral{referral.pk}-{action}", **options)


def _referrals(user, consultation: Consultation, *, sealed: bool, bound: dict) -> tuple[list, list]:
    """The case's referrals, each with the step forms ``user`` may use now (none while sealed);
    and the bound forms of steps no longer offered (their refusal is shown at the top)."""
    referrals = list(consultation.referrals.all())
    shown = set()
    for referral in referrals:
        referral.steps = []
        for action in [] if sealed else selectors.referral_allowed_actions(user=user, referral=referral):
            form = bound.get((referral.pk, action)) or _referral_form(action, referral)
            shown.add((referral.pk, action))
            referral.steps.append({
                "action": action, "step": REFERRAL_STEPS[action], "form": form,
                "url": reverse(f"consultations:referral-{action}", args=[referral.pk]),
            })
    return referrals, [form for key, form in bound.items() if key not in shown]


def _case_page(
    request, pk: int, *, bound: dict | None = None, status: int = 200, reveal: bool = False, referral_bound: dict | None = None
):
    """The case; JL-C8: a sealed case asks for the purpose first and is read-only. Each response
    writes one access: ``record.view``, or ``record.reveal`` when the full numbers are shown."""
    consultation = _found(selectors.consultation_case_page, user=request.user, pk=pk)
    record_panel = case_record_panel(user=request.user, consultation=consultation)
    seal = record_panel["seal"]
    purpose = _sealed_purpose(request, consultation, seal)
    if purpose is None:
        return _to_sealed_access(consultation.pk, reverse("consultations:detail", args=[consultation.pk]))
    may_reveal = selectors.may_reveal_identity(user=request.user, patient=consultation.patient)
    if reveal and not may_reveal:
        raise PermissionDenied(
            _("JL-C9 第三十六条: 只有患者所在医院的临床医师和远程医疗管理人员可以查看完整的证件号码和电话。")
        )
    if reveal:
        record_access(
            actor=request.user, action="reveal", consultation=consultation,
            purpose=purpose or _("核对患者身份：查看完整证件号码和电话"), details={"fields": ["id_number", "phone"]},
            sealed=seal is not None,
        )
    else:
        record_access(
            actor=request.user, action="view", consultation=consultation, purpose=purpose or _("查看远程医疗病例"),
            sealed=seal is not None,
        )
    offered = _offered(request.user, consultation, sealed=seal is not None)
    bound = bound or {}
    forms = {
        action: bound.get(action)
        or CASE_ACTIONS[action].form(
            prefix=action,
            initial=_initial(action, request.user),
            **_form_options(action, consultation, request.user),
        )
        for action in offered
    }
    consent = selectors.consent_for(consultation)
    participants = list(consultation.participants.all())
    opinions = list(consultation.opinions.all())
    versions = {o.pk: o.version for o in opinions}
    for opinion in opinions:
        opinion.supersedes_version = versions.get(opinion.supersedes_id)
    scope = Scope.of(request.user)
    viewer_side = next(
        (
            side
            for side, fid in (
                (Side.INVITING, consultation.inviting_id),
                (Side.INVITED, consultation.invited_id),
            )
            if fid in scope.facility_roles
        ),
        "",
    )
    # Issue 11: only what the timeline shows, as named rows (the template tags build them).
    events = selectors.case_page_events(consultation=consultation, fields=TIMELINE_FIELDS, accesses_shown=ACCESSES_SHOWN)
    accesses = [e for e in events if e.is_access]
    referrals, referral_refused = _referrals(request.user, consultation, sealed=seal is not None, bound=referral_bound or {})
    context = {
        "consultation": consultation,
        "consent": consent,
        "consent_versions": selectors.kept_consent_versions(consultation),
        "seal": seal,
        "record_panel": record_panel,
        # JL-C9: the full numbers for this one response only (never kept in the session).
        "revealed": {"id_number": consultation.patient.id_number, "phone": consultation.patient.phone}
        if reveal
        else None,
        "may_reveal": may_reveal,
        "viewer_side": viewer_side,
        "forms": forms,
        "offered": offered,
        # Issue 12: the "下一步" panel leads the page (consultations.case_steps).
        "next_steps": next_steps(consultation=consultation, offered=offered, referrals=referrals),
        # A refusal of an action the page no longer offers (the case moved on, or was sealed).
        "refused": [form for action, form in bound.items() if action not in forms] + referral_refused,
        "referrals": referrals,
        "inviting_participants": [p for p in participants if p.side == Side.INVITING],
        "invited_participants": [p for p in participants if p.side == Side.INVITED],
        "documents": list(consultation.documents.all()),
        "opinions": opinions,
        "latest_opinion": opinions[-1] if opinions else None,
        "responsibilities": list(consultation.responsibilities.all()),
        "ratings": list(consultation.ratings.all()),
        "timeline": [e for e in events if not e.is_access],
        "accesses": accesses,
        "access_total": accesses[0].access_total if accesses else 0,
        "readiness": _readiness(consultation, consent)
        if consultation.state in PREPARE_STATES and "send" in offered
        else None,
    }
    response = render(request, "consultations/detail.html", context, status=status)
    if reveal:
        patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
def consultation_detail(request, pk: int):
    return _case_page(request, pk)


@login_required
@require_POST
def patient_reveal(request, pk: int):
    """JL-C9 (art. 36): the case page once more with the patient's full identity and phone numbers,
    for the clinicians and coordinators of the patient's own hospital; logged as ``record.reveal``
    (JL-C8). Not remembered: the next view of the case is masked again."""
    return _case_page(request, pk, reveal=True)


@login_required
@require_POST
def consultation_act(request, pk: int, action: str):
    """One write on the case: on success back to the case page; a refusal keeps the page, with the
    form as typed and every reason it cites."""
    consultation = _found(selectors.consultation_detail, user=request.user, pk=pk)
    spec = CASE_ACTIONS[action]
    form = spec.form(
        request.POST, request.FILES, prefix=action, **_form_options(action, consultation, request.user)
    )
    if _submit(form, partial(spec.service, actor=request.user, consultation=consultation)) is not None:
        messages.success(request, str(spec.done))
        return redirect(reverse("consultations:detail", args=[pk]) + f"#{spec.anchor}")
    return _case_page(request, pk, bound={action: form}, status=400)


@login_required
@require_POST
def referral_act(request, pk: int, action: str):
    """One step of a referral (JL-C10), taken from the case page; a refusal keeps the case page
    with the form as typed and its reason."""
    referral = _found(selectors.referral_detail, user=request.user, pk=pk)
    step = REFERRAL_STEPS[action]
    form = _referral_form(action, referral, request.POST)
    if _submit(form, partial(step.service, actor=request.user, referral=referral)) is not None:
        messages.success(request, str(step.done))
        return redirect(reverse("consultations:detail", args=[referral.consultation_id]) + "#referrals")
    return _case_page(request, referral.consultation_id, referral_bound={(referral.pk, action): form}, status=400)


@login_required
def referral_list(request):
    """JL-C10: the referrals of the user's facilities, or of a regulator's division (JL-O1), newest
    first, by direction and state. The rows name the patient: a list access (JL-C8)."""
    filters = ReferralFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    direction, state = values.get("direction", ""), values.get("state", "")
    page_obj = _paginate(request, selectors.referral_list(user=request.user, direction=direction, state=state))
    _log_list(request, "consultations.referral", page_obj, {"direction": direction, "state": state})
    return render(request, "consultations/referral_list.html", {"form": filters, "page_obj": page_obj})


@login_required
def document_download(request, pk: int, document_pk: int):
    """JL-C5: only to a user who sees the request; JL-C8: every download is logged."""
    document = _found(selectors.document_for_download, user=request.user, consultation_pk=pk, pk=document_pk)
    purpose = _sealed_purpose(request, document.consultation, open_seal(document.consultation_id))
    if purpose is None:
        return _to_sealed_access(document.consultation_id, request.get_full_path())
    record_access(
        actor=request.user,
        action="download",
        consultation=document.consultation,
        purpose=purpose or _("下载病历资料"),
        object_type="consultations.document",
        object_id=document.pk,
        details={"sha256": document.sha256, "size": document.size},
    )
    return _stream(document.file, document.original_name)


@login_required
def consent_download(request, pk: int):
    """The signed consent form (JL-C3), under the same rules as any document."""
    consultation = _found(selectors.consultation_detail, user=request.user, pk=pk)
    consent = selectors.consent_for(consultation)
    if consent is None or not consent.signed_copy:
        raise Http404(_("文件不存在。"))
    purpose = _sealed_purpose(request, consultation, open_seal(consultation.pk))
    if purpose is None:
        return _to_sealed_access(consultation.pk, request.get_full_path())
    record_access(
        actor=request.user,
        action="download",
        consultation=consultation,
        purpose=purpose or _("下载知情同意书"),
        object_type="consultations.consent",
        object_id=consent.pk,
        details={"sha256": consent.signed_copy_sha256},
    )
    return _stream(
        consent.signed_copy, f"{consultation.number}-consent{Path(consent.signed_copy.name).suffix}"
    )


# --- JL-C2: the 24-hour obligations -----------------------------------------------------------


OBLIGATION_FORMS = {
    TriggerKind.EXPERT_CONSULT_FAILED: ExpertConsultFailedForm,
    TriggerKind.PATIENT_REQUEST: PatientRequestForm,
}


def _patient_forms(patient, bound: dict) -> dict:
    admissions = patient.admissions.all()
    return {
        "expert_consult_failed": bound.get("expert_consult_failed")
        or ExpertConsultFailedForm(prefix="t2", admissions=admissions),
        "patient_request": bound.get("patient_request") or PatientRequestForm(prefix="t3"),
        "admission": bound.get("admission") or AdmissionForm(prefix="adm"),
    }


def _obligation_page(request, *, patient=None, bound: dict | None = None, status: int = 200):
    """The facility's open obligations by due time (with a live countdown), the forms that record
    triggers (1) to (3) for a patient found by search, and the admissions awaiting a diagnosis."""
    bound = bound or {}
    scope = Scope.of(request.user)
    own = scope.facilities_with_role(*CLINICAL)
    filters = ObligationFilterForm(request.GET or None)
    state = filters.cleaned_data.get("state") if filters.is_valid() else ""
    state = "" if state == "all" else (state or ObligationState.OPEN)
    page_obj = _paginate(request, selectors.obligation_list(user=request.user, state=state))
    _log_list(request, "consultations.obligation", page_obj, {"state": state})
    for obligation in page_obj:
        if own and obligation.state == ObligationState.OPEN and obligation.facility_id in own:
            obligation.withdraw_form = bound.get(f"withdraw-{obligation.pk}") or WithdrawForm(
                prefix=f"w{obligation.pk}"
            )
    context = {
        "form": filters,
        "page_obj": page_obj,
        "can_record": bool(own),
        "is_regulator": scope.is_regulator,
    }
    if own:
        facilities = list(Facility.objects.filter(pk__in=own))
        search = request.GET.get("q", "").strip()[:50]
        context["q"] = search
        context["patients"] = _patient_results(request, facilities, search)
        patient_pk = request.GET.get("patient", "")
        if patient is None and patient_pk.isdigit():
            patient = _found(selectors.patient_detail, user=request.user, pk=int(patient_pk))
        if patient is not None:
            record_access(
                actor=request.user, action="view", patient=patient, purpose=_("登记第二十二条情形"),
                details={"page": "obligations"},
            )
            context["patient"] = patient
            context["patient_forms"] = _patient_forms(patient, bound)
        watch = _log_list(
            request,
            "consultations.admission",
            selectors.admission_watch_list(user=request.user).filter(facility_id__in=own)[:PAGE_SIZE],
            {"watch": "undiagnosed"},
        )
        after = timedelta(hours=settings.TELEMED_UNDIAGNOSED_AFTER_HOURS)
        for admission in watch:
            admission.trigger_at = admission.admitted_at + after
            admission.diagnosis_form = bound.get(f"diagnosis-{admission.pk}") or DiagnosisForm(
                prefix=f"d{admission.pk}"
            )
        context["watch"] = watch
    return render(request, "consultations/obligation_list.html", context, status=status)


@login_required
def obligation_list(request):
    return _obligation_page(request)


def _back_to_obligations(request, *, patient=None):
    target = reverse("consultations:obligation-list")
    return redirect(f"{target}?patient={patient.pk}#patient" if patient is not None else target)


@login_required
@require_POST
def obligation_open(request, patient_pk: int, trigger: str):
    """Art. 22 (2) and (3): staff record the situation; the deadline follows from it."""
    patient = _found(selectors.patient_detail, user=request.user, pk=patient_pk)
    key = TriggerKind(trigger).value
    prefix = "t2" if trigger == TriggerKind.EXPERT_CONSULT_FAILED else "t3"
    options = {"admissions": patient.admissions.all()} if trigger == TriggerKind.EXPERT_CONSULT_FAILED else {}
    form = OBLIGATION_FORMS[trigger](request.POST, prefix=prefix, **options)
    obligation = _submit(
        form, partial(services.obligation_open, actor=request.user, patient=patient, trigger=trigger)
    )
    if obligation is not None:
        due = timezone.localtime(obligation.due_at)
        messages.warning(
            request,
            _("已登记：%(trigger)s。患者 %(name)s 的资料须在 %(due)s 前上传受邀方（JL-C2 第二十二条）。")
            % {
                "trigger": obligation.get_trigger_display(),
                "name": patient.name,
                "due": f"{due:%Y-%m-%d %H:%M}",
            },
        )
        return _back_to_obligations(request)
    return _obligation_page(request, patient=patient, bound={key: form}, status=400)


@login_required
@require_POST
def obligation_withdraw(request, pk: int):
    obligation = _found(
        lambda user: selectors.obligation_list(user=user, state="").get(pk=pk), user=request.user
    )
    form = WithdrawForm(request.POST, prefix=f"w{pk}")
    if (
        _submit(form, partial(services.obligation_withdraw, actor=request.user, obligation=obligation))
        is not None
    ):
        messages.success(request, _("已撤销患者 %(name)s 的上传义务。") % {"name": obligation.patient.name})
        return _back_to_obligations(request)
    return _obligation_page(request, bound={f"withdraw-{pk}": form}, status=400)


@login_required
@require_POST
def admission_record(request, patient_pk: int):
    """Art. 22 (1): the sweep watches the admission until a diagnosis is confirmed."""
    patient = _found(selectors.patient_detail, user=request.user, pk=patient_pk)
    form = AdmissionForm(request.POST, prefix="adm")
    admission = _submit(form, partial(services.admission_record, actor=request.user, patient=patient))
    if admission is not None:
        messages.success(
            request,
            _("已登记入院：%(name)s，住院号 %(n)s。")
            % {"name": patient.name, "n": admission.inpatient_number},
        )
        return _back_to_obligations(request, patient=patient)
    return _obligation_page(request, patient=patient, bound={"admission": form}, status=400)


@login_required
@require_POST
def admission_diagnosis(request, pk: int):
    admission = _found(lambda user: selectors.admission_watch_list(user=user).get(pk=pk), user=request.user)
    form = DiagnosisForm(request.POST, prefix=f"d{pk}")
    if (
        _submit(form, partial(services.admission_confirm_diagnosis, actor=request.user, admission=admission))
        is not None
    ):
        messages.success(request, _("已记录 %(name)s 的明确诊断。") % {"name": admission.patient.name})
        return _back_to_obligations(request)
    return _obligation_page(request, bound={f"diagnosis-{pk}": form}, status=400)


@login_required
def violation_list(request):
    """JL-C2 violations: regulators see their division's (JL-O1), staff their facilities'. The page's
    rows are read as values and rendered in Python (issue 11, ``consultations.violation_rows``)."""
    from .violation_rows import register_html, violation_rows

    page_obj = _paginate(request, selectors.violation_list(user=request.user))
    page_obj.object_list = violation_rows(page_obj.object_list)
    _log_list(request, "consultations.violation", page_obj, {})
    return render(request, "consultations/violation_list.html", {"page_obj": page_obj, "rows": register_html(page_obj.object_list)})


# --- Notifications ----------------------------------------------------------------------------


@login_required
def notification_list(request):
    form = NotificationFilterForm(request.GET or None)
    unread_only = bool(form.is_valid() and form.cleaned_data.get("unread_only"))
    page_obj = _paginate(request, selectors.notification_list(user=request.user, unread_only=unread_only))
    # JL-C8: the JL-C2 reminders and violation notices name the patient (患者 王桂芝 …); a page
    # showing them is a list access to those patients. The other notifications name a request
    # number only, which is no patient data until the case is opened (and that is logged).
    _log_list(
        request, "consultations.notification", selectors.notifications_naming_patients(page_obj),
        {"unread_only": "1" if unread_only else ""},
    )
    return render(request, "consultations/notification_list.html", {"form": form, "page_obj": page_obj})


@login_required
@require_POST
def notification_read(request, pk: int | None = None):
    """Mark one notification (or all) read. The user's own rows only: another's is a 404 (STYLE 3)."""
    if pk is not None and not selectors.notification_list(user=request.user).filter(pk=pk).exists():
        raise Http404(_("通知不存在。"))
    services.notifications_mark_read(actor=request.user, notification_ids=None if pk is None else [pk])
    request.session.pop(UNREAD_SESSION_KEY, None)
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("consultations:notification-list")
