"""Pages of medical records under the law (JL-C7, JL-C8, JL-A1), under /records/ (namespace ``audit``).

Thin on purpose (STYLE): reads through ``selectors.py`` (scoped: out of scope is a 404), writes
through one call to ``audit.records`` or ``audit.services``. A refusal is shown on the form with
its message, keeping what the user typed; a ``permission_denied`` refusal is the 403 page.

Reading a record is itself an access (调阅, JL-C8 art. 35): every page that shows a consultation's
responsibility, seal or acts writes ``record.view`` / ``record.list`` before it renders. A sealed
record shows nothing until the reader has stated a purpose (``sealed_access``), which is logged
and remembered for the session under ``request.session["sealed_access"]``.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from facilities.selectors import facility_list
from telemed import signing
from telemed.errors import ApplicationError
from telemed.pages import found as _found
from telemed.pages import raise_if_denied as _raise_if_denied
from telemed.pages import submit as _submit
from telemed.scope import Scope

from . import records, selectors, services
from .forms import PurposeForm, ResponsibilityFilterForm, SealFilterForm, SealForm, UnsealForm

PAGE_SIZE = 25
GET_POST = require_http_methods(["GET", "POST"])


# --- Plumbing -------------------------------------------------------------------------------


def _case_url(consultation_id: int) -> str:
    return reverse("consultations:detail", args=[consultation_id])


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _sealed_gate(request, consultation):
    """JL-C8: a sealed record asks for a purpose first; returns the redirect, or None."""
    if selectors.sealed_access_needed(session=request.session, consultation_id=consultation.pk):
        target = reverse("audit:sealed-access", args=[consultation.pk])
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
    return None


def _grant_sealed_access(session, consultation_id: int) -> None:
    granted = set(session.get(selectors.SEALED_ACCESS_KEY, []))
    granted.add(consultation_id)
    session[selectors.SEALED_ACCESS_KEY] = sorted(granted)  # JSON sessions hold lists, not sets


def _forget_sealed_access(session, consultation_id: int) -> None:
    granted = set(session.get(selectors.SEALED_ACCESS_KEY, []))
    if consultation_id in granted:
        granted.discard(consultation_id)
        session[selectors.SEALED_ACCESS_KEY] = sorted(granted)


# --- Responsibility (JL-C7) -----------------------------------------------------------------


@login_required
def responsibility_list(request):
    """Responsibility records by facility (regulators: their division, JL-O1)."""
    form = ResponsibilityFilterForm(request.GET or None, facilities=facility_list(user=request.user))
    facility = form.cleaned_data.get("facility") if form.is_bound and form.is_valid() else None
    queryset = selectors.responsibility_list(user=request.user, facility_id=facility.pk if facility else None)
    page_obj = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page_obj)
    if rows:
        consultations = list({r.consultation_id: r.consultation for r in rows}.values())
        records.record_list_access(
            actor=request.user, what="consultations.responsibilityrecord", rows=consultations,
            filters={"facility": facility.pk if facility else None},
        )
    return render(request, "audit/responsibility_list.html", {"form": form, "page_obj": page_obj, "rows": rows})


@login_required
def responsibility_detail(request, pk: int):
    """One consultation's responsibility records, in order, and the acts done under each."""
    consultation = _found(selectors.consultation_for_records, user=request.user, pk=pk)
    gate = _sealed_gate(request, consultation)
    if gate is not None:
        return gate
    records.record_access(actor=request.user, action="view", consultation=consultation, details={"page": "responsibility"})
    context = {
        "consultation": consultation,
        "periods": selectors.responsibility_timeline(consultation),
        "seal": records.open_seal(consultation.pk),
        "case_url": _case_url(consultation.pk),
    }
    return render(request, "audit/responsibility_detail.html", context)


# --- Sealing (JL-C8) ------------------------------------------------------------------------


@login_required
def seal_list(request):
    form = SealFilterForm(request.GET or None)
    open_only = bool(form.cleaned_data.get("open_only")) if form.is_bound and form.is_valid() else False
    queryset = selectors.seal_list(user=request.user, open_only=open_only)
    return render(request, "audit/seal_list.html", {"form": form, "page_obj": Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))})


@login_required
@GET_POST
def seal_create(request, pk: int):
    """Seal a consultation for a dispute: reason, both parties, a hashed snapshot (art. 32, 37)."""
    consultation = _found(selectors.consultation_for_records, user=request.user, pk=pk)
    existing = records.open_seal(consultation.pk)
    form = SealForm(request.POST or None)
    seal = _submit(form, partial(records.seal_create, actor=request.user, consultation=consultation))
    if seal is not None:
        messages.success(request, _("申请 %(number)s 的病历已封存，封存期间只读。") % {"number": consultation.number})
        return redirect("audit:seal-detail", pk=seal.pk)
    context = {"consultation": consultation, "form": form, "existing": existing, "case_url": _case_url(consultation.pk)}
    return render(request, "audit/seal_form.html", context)


@login_required
def seal_detail(request, pk: int):
    """The seal, its parties, and whether the live record still matches the sealed snapshot."""
    seal = _found(selectors.seal_detail, user=request.user, pk=pk)
    consultation = seal.consultation
    records.record_access(
        actor=request.user, action="view", consultation=consultation, object_type="audit.seal", object_id=seal.pk,
        details={"page": "seal", "seal": seal.pk},
    )
    is_open = seal.unsealed_at is None
    context = {
        "seal": seal,
        "consultation": consultation,
        "verification": records.seal_verify(seal),
        "is_open": is_open,
        "can_unseal": is_open and selectors.may_manage_seals(user=request.user, consultation=consultation),
        "case_url": _case_url(consultation.pk),
    }
    return render(request, "audit/seal_detail.html", context)


@login_required
@GET_POST
def seal_release(request, pk: int):
    """Unseal, with both parties recorded again (art. 37)."""
    seal = _found(selectors.seal_detail, user=request.user, pk=pk)
    if seal.unsealed_at is not None and request.method == "GET":
        messages.info(request, _("该封存已于 %(at)s 启封。") % {"at": seal.unsealed_at.strftime("%Y-%m-%d %H:%M")})
        return redirect("audit:seal-detail", pk=seal.pk)
    form = UnsealForm(request.POST or None)
    released = _submit(form, partial(records.seal_release, actor=request.user, seal=seal))
    if released is not None:
        _forget_sealed_access(request.session, seal.consultation_id)
        messages.success(request, _("申请 %(number)s 的病历已启封。") % {"number": seal.consultation.number})
        return redirect("audit:seal-detail", pk=seal.pk)
    return render(request, "audit/unseal_form.html", {"seal": seal, "consultation": seal.consultation, "form": form})


@login_required
@GET_POST
def sealed_access(request, pk: int):
    """JL-C8 (art. 37): state why a sealed record is opened; logged, then on to the record."""
    consultation = _found(selectors.consultation_for_records, user=request.user, pk=pk)
    target = _safe_next(request, _case_url(consultation.pk))
    seal = records.open_seal(consultation.pk)
    if seal is None:
        return redirect(target)
    form = PurposeForm(request.POST or None)
    if form.is_bound and form.is_valid():
        records.record_access(
            actor=request.user, action="view", consultation=consultation, purpose=form.cleaned_data["purpose"],
            details={"page": "sealed-access", "seal": seal.pk},
        )
        _grant_sealed_access(request.session, consultation.pk)
        return redirect(target)
    context = {"consultation": consultation, "seal": seal, "form": form, "next": target}
    return render(request, "audit/sealed_access.html", context)


# --- Chain verification (JL-A1) -------------------------------------------------------------


@login_required
@GET_POST
def chain(request):
    """The last verification of the audit chain, and a button to run one in the background."""
    scope = Scope.of(request.user)
    if not (scope.is_audit_admin or scope.is_regulator):
        raise PermissionDenied(_("JL-A1: 只有审计管理员或卫生健康行政部门可以查看审计链校验。"))
    if request.method == "POST":
        try:
            services.verification_request(actor=request.user)
        except ApplicationError as error:
            _raise_if_denied(error)
            messages.error(request, error.message)
        else:
            messages.success(request, _("已发起审计链校验，正在后台进行。"))
        return redirect("audit:chain")
    status = selectors.chain_status()
    run = status["run"]
    # A stale run (its worker died, its message was lost) no longer blocks the button (JL-A1).
    in_progress = run is not None and run.in_progress and not run.is_stale(timezone.now())
    return render(request, "audit/chain.html", {**status, "in_progress": in_progress})


# --- Signed checkpoints (JL-A1; issue 11) ---------------------------------------------------------


def _checkpoints(user):
    try:
        return selectors.checkpoint_list(user=user)
    except ApplicationError as error:
        _raise_if_denied(error)
        raise


@login_required
def checkpoint_list(request):
    """The signed checkpoints, newest first, each to download and keep (regulators, operators)."""
    page_obj = Paginator(_checkpoints(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    keys = [{"id": key.id, "algorithm": algorithm, "public_key": signing.b64(key.public_key(algorithm)),
             "fingerprint": signing.fingerprint(key.public_key(algorithm))}
            for key in settings.TELEMED_AUDIT_SIGNING_KEYS[:1]
            for algorithm in [signing.signature_algorithm(settings.TELEMED_DATA_CIPHER)]]
    return render(request, "audit/checkpoint_list.html", {"page_obj": page_obj, "keys": keys})


@login_required
def checkpoint_download(request, pk: int):
    """One checkpoint as a JSON file (``audit-checkpoint-<size>.json``); the download is audited."""
    checkpoint = _found(lambda: _checkpoints(request.user).get(pk=pk))
    document = services.audit_checkpoint_download(actor=request.user, checkpoint=checkpoint)
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="audit-checkpoint-{checkpoint.size}.json"'
    return response
