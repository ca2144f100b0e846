"""Pages of complaints (JL-O6). Thin: read through ``complaint_selectors``, write through
``complaints``.

- Staff pages (login): the list (a facility's handlers see their facility's, regulators their
  division's), the detail with its steps, the staff entry of a complaint received by phone or in person.
- Public pages (no login, under /public/complaints/): the intake form and the status lookup. Both
  are rate-limited per client address (``TELEMED_COMPLAINT_RATE``); a refusal is a Chinese page with
  status 429. The status page shows the state and, once answered, the answer — nothing else.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from facilities import selectors as facility_selectors
from telemed.pages import found, paginate, submit
from telemed.ratelimit import over_limit
from telemed.scope import Scope

from . import complaint_rules as rules
from . import complaint_selectors as selectors
from . import complaints
from .choices import ComplaintState
from .complaint_forms import ComplaintForm, ComplaintStatusForm, ComplaintStepForm, StaffComplaintForm
from .complaint_models import HANDLERS

GET_POST = require_http_methods(["GET", "POST"])


def _flags(complaint, now) -> None:
    complaint.ack_overdue = rules.ack_overdue(ack_due_at=complaint.ack_due_at, acknowledged_at=complaint.acknowledged_at, now=now)
    complaint.answer_overdue = rules.answer_overdue(
        answer_due_at=complaint.answer_due_at, answered_at=complaint.answered_at, now=now)


def _entry_facilities(user):
    scope = Scope.of(user)
    facilities = facility_selectors.facility_list(user=user)
    if scope.is_regulator:
        return facilities
    return facilities.filter(id__in=scope.facilities_with_role(*HANDLERS))


@login_required
def complaint_list(request):
    """JL-O6: complaints in the user's scope, filtered by facility and state, newest first."""
    scope = Scope.of(request.user)
    if not (scope.is_regulator or scope.facilities_with_role(*HANDLERS)):
        raise PermissionDenied(_("JL-O6: 投诉由被投诉机构的管理员、远程医疗专职管理人员及其监管部门办理。"))
    state = request.GET.get("state", "")
    facility_id = request.GET.get("facility", "")
    page = paginate(request, selectors.complaint_list(
        user=request.user, facility_id=facility_id, state=state, order=request.GET.get("order", "")))
    now = timezone.now()
    for complaint in page:
        _flags(complaint, now)
    # Issue 10: the facility page links here with ?facility=; the filter names it and keeps it across
    # the state filter and the pages (it was dropped at the first click).
    facility = (facility_selectors.facility_list(user=request.user).filter(pk=int(facility_id)).first()
                if facility_id.isdigit() else None)
    return render(request, "audit/complaint_list.html", {
        "page": page, "states": ComplaintState.choices, "state": state, "order": request.GET.get("order", ""),
        "facility": facility,
    })


@login_required
@GET_POST
def complaint_create(request):
    """JL-O6: a complaint received by phone or in person, entered by the facility or its regulator."""
    facilities = _entry_facilities(request.user)
    if not facilities.exists():
        raise PermissionDenied(_("JL-O6: 只有被投诉机构的管理员、远程医疗专职管理人员或其监管部门可以登记投诉。"))
    form = StaffComplaintForm(request.POST or None, facilities=facilities)
    complaint = submit(form, partial(complaints.complaint_receive, actor=request.user))
    if complaint is not None:
        messages.success(request, _("已登记投诉，编号 %(number)s。") % {"number": complaint.tracking_number})
        return redirect("audit:complaint-detail", pk=complaint.pk)
    return render(request, "audit/complaint_form.html", {"form": form}, status=400 if form.is_bound else 200)


def _step(*, request, complaint, act: str, form, **_cleaned):
    return complaints.SERVICES[act](actor=request.user, complaint=complaint, **form.cleaned_for(act))


@login_required
@GET_POST
def complaint_detail(request, pk: int):
    complaint = found(selectors.complaint_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    acts = rules.allowed_acts(
        state=complaint.state, handler=scope.has_role(complaint.facility_id, *HANDLERS),
        regulator=scope.regulates(complaint.facility.division_id) if scope.is_regulator else False,
    )
    posted = request.POST.get("act") if request.method == "POST" else None
    forms = []
    for act in acts:
        form = ComplaintStepForm(request.POST if posted == act else None, prefix=act)
        forms.append((act, rules.edge_for(act).label, form))
        if posted == act:
            done = submit(form, partial(_step, request=request, complaint=complaint, act=act, form=form))
            if done is not None:
                messages.success(request, _("已办理：%(act)s。") % {"act": rules.edge_for(act).label})
                return redirect("audit:complaint-detail", pk=pk)
    if posted and posted not in acts:
        raise PermissionDenied(_("JL-O6: 当前状态下您不能办理此环节。"))
    _flags(complaint, timezone.now())
    return render(request, "audit/complaint_detail.html", {
        "complaint": complaint, "steps": complaint.steps.all(), "forms": forms,
    }, status=400 if posted else 200)


# --- Public pages (no login) ------------------------------------------------------------------


def _limited(request, scope: str):
    if over_limit(f"complaint-{scope}", request, rate=settings.TELEMED_COMPLAINT_RATE):
        return render(request, "public/complaint_limited.html", {"rate": settings.TELEMED_COMPLAINT_RATE}, status=429)
    return None


@GET_POST
def public_complaint_new(request):
    """JL-O6: the public intake form — no account needed; a tracking number to follow it."""
    if request.method == "POST":
        refused = _limited(request, "new")
        if refused is not None:
            return refused
    form = ComplaintForm(request.POST or None, facilities=selectors.public_facilities())
    complaint = submit(form, partial(complaints.complaint_receive, actor=None))
    if complaint is not None:
        return render(request, "public/complaint_received.html", {"complaint": complaint})
    return render(request, "public/complaint_new.html", {"form": form}, status=400 if form.is_bound else 200)


@GET_POST
def public_complaint_status(request):
    """JL-O6: the tracking number and the last four digits of the phone show the state and the answer."""
    form = ComplaintStatusForm(request.POST or None)
    complaint = None
    not_found = False
    if request.method == "POST":
        refused = _limited(request, "status")
        if refused is not None:
            return refused
        if form.is_valid():
            complaint = selectors.complaint_for_complainant(
                tracking_number=form.cleaned_data["tracking_number"], phone_tail=form.cleaned_data["phone_tail"])
            not_found = complaint is None
        else:
            not_found = True
    return render(request, "public/complaint_status.html", {
        "form": ComplaintStatusForm() if complaint else form, "complaint": complaint, "not_found": not_found,
    }, status=404 if not_found else 200)
