"""The printable opinion/report page (JL-C11, JL-C6): one signed version, as the invited facility
issues it — its header, the patient (numbers masked, JL-C9), the sections, the diagnoses, the
signers with their titles, the signature hash and whether the stored text still matches it.

Scoped like the case page (a case outside the user's scope is a 404), sealed like it (a purpose
first, JL-C8 art. 37), and every view of it is an access on record (``record.view`` of the opinion,
JL-C8 art. 35).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from audit.records import open_seal, record_access
from telemed.pages import found

from . import selectors
from .choices import Side
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
