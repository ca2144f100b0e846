"""The printable opinion/report page (JL-C11, JL-C6): one signed version, as the invited facility
issues it — its header, the patient (numbers masked, JL-C9), the sections, the diagnoses, the
signers with their titles, the signature hash and whether the stored text still matches it.

Scoped like the case page (a case outside the user's scope is a 404), sealed like it (a purpose
first, JL-C8 art. 37), and every view of it is an access on record (``record.view`` of the opinion,
JL-C8 art. 35).
"""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit.records import open_seal, record_access
from facilities.models import ServiceType
from telemed.pages import found, submit
from telemed.scope import Scope

from . import report_rules, selectors, services
from .choices import Side
from .report_forms import ReportTemplateForm
from .services.opinions import opinion_signature_intact
from .views import _sealed_purpose, _to_sealed_access


@login_required
@require_GET
def opinion_print(request, pk: int, opinion_pk: int):
    consultation = found(selectors.consultation_detail, user=request.user, pk=pk)
    opinions = list(consultation.opinions.all())
    opinion = next((o for o in opinions if o.pk == opinion_pk), None)
    if opinion is None:
        raise Http404(_("未找到该对象，或它不在您的管辖范围内。"))
    purpose = _sealed_purpose(request, consultation, open_seal(consultation.pk))
    if purpose is None:
        return _to_sealed_access(consultation.pk, reverse("consultations:opinion-print", args=[pk, opinion_pk]))
    record_access(
        actor=request.user, action="view", consultation=consultation, purpose=purpose or _("查看/打印意见报告"),
        object_type="consultations.opinion", object_id=opinion.pk,
        details={"page": "opinion-print", "version": opinion.version, "sha256": opinion.content_sha256},
    )
    versions = {o.pk: o.version for o in opinions}
    context = {
        "consultation": consultation,
        "opinion": opinion,
        "facility": consultation.invited,
        "supersedes_version": versions.get(opinion.supersedes_id),
        "is_latest": opinion is opinions[-1],
        "experts": [p.physician for p in consultation.participants.all() if p.side == Side.INVITED and p.physician_id != opinion.signed_by_id],
        "intact": opinion_signature_intact(opinion, consultation_number=consultation.number),
    }
    response = render(request, "consultations/opinion_print.html", context)
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def report_template_edit(request, code: str):
    """JL-C11: the provincial regulator sets a service type's report template (sections, and an
    imaging modality's own); everyone else is refused. No patient data."""
    if not Scope.of(request.user).is_provincial_regulator:
        raise PermissionDenied(_("JL-C11: 只有省卫生健康委可以设置意见/报告模板。"))
    service_type = get_object_or_404(ServiceType, code=code)
    form = ReportTemplateForm(request.POST or None, service_type=service_type)
    write = partial(services.service_type_report_template_set, actor=request.user, service_type=service_type)
    if request.method == "POST" and submit(form, write) is not None:
        messages.success(request, _("已保存“%(name)s”的意见/报告模板。") % {"name": service_type.name})
        return redirect("facilities:service-type-list")
    context = {
        "service_type": service_type, "form": form,
        "preview": report_rules.template_sections(service_type.report_template),
    }
    return render(request, "consultations/report_template_form.html", context, status=400 if form.is_bound else 200)
