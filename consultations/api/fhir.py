"""FHIR R4 read and search of the consultations app (issue 14): ServiceRequest, Task, DiagnosticReport,
DocumentReference, Patient, Consent. Mounted by ``telemed.fhir.urls`` under ``/api/v1/fhir/``.

Scoping (STYLE 3, JL-O1): every row comes through ``Consultation.objects.visible_to(user)`` or
``Patient.objects.visible_to(user)`` — what the REST API shows the same user — so a row outside it
is a 404, as a missing id. Medical records under the law: every read writes ``record.view`` (a
patient read with full numbers ``record.reveal``) and every search that returns rows ``record.list``
naming them (JL-C8, art. 35); a sealed record is read only with ``?purpose=`` (JL-C8, art. 37, the
REST rule), and a search that would show a sealed record's opinion, documents or consent needs it
too. Identity and phone numbers are masked (JL-C9) except on a read by the patient's own hospital.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from audit.models import Seal
from audit.records import record_access, record_list_access, require_access_purpose
from telemed.fhir.views import FhirResourceView, SearchParam, reference_param, token_param

from .. import fhir, selectors
from ..models import Consent, ConsentVersion, Consultation, Document, Opinion, Patient
from ..rules import mask_number

CONSULTATION_JOINS = ("patient", "inviting", "invited", "service_type")


def logged_filters(request, resource_type: str) -> dict:
    """The search as the access log keeps it (``record.list``): numbers masked (JL-C9), no cursor."""
    filters = selectors.access_filters(request.query_params)
    filters.pop("_cursor", None)
    if "identifier" in filters:  # a number searched for is kept masked in the log
        filters["identifier"] = mask_number(str(filters["identifier"]))
    return {**filters, "fhir": resource_type}


class ConsultationBound(FhirResourceView):
    """A resource that belongs to one consultation (``consultation_of(row)``): reads check the seal
    and log ``record.view`` of the consultation's patient; searches log ``record.list``."""

    patient_data = True
    access_what = "consultations.consultation"
    sealed_search_needs_purpose = True  # content of the record (opinion, documents, consent)

    def consultations(self, request):
        return Consultation.objects.visible_to(request.user)

    def consultation_of(self, row):
        return row.consultation

    def purpose(self, request) -> str:
        return request.query_params.get("purpose", "").strip()

    def check_read(self, request, row) -> None:
        # JL-C8 (art. 37): a sealed record answers only to a stated purpose; the refusal is on record.
        require_access_purpose(actor=request.user, consultation=self.consultation_of(row), purpose=self.purpose(request))

    def check_search(self, request, rows) -> None:
        if not self.sealed_search_needs_purpose or self.purpose(request) or not rows:
            return
        by_id = {self.consultation_of(row).pk: self.consultation_of(row) for row in rows}
        sealed = Seal.objects.filter(consultation_id__in=by_id, unsealed_at__isnull=True).values_list("consultation_id", flat=True).first()
        if sealed is not None:
            require_access_purpose(actor=request.user, consultation=by_id[sealed], purpose="")

    def log_read(self, request, row) -> None:
        record_access(
            actor=request.user, action="view", consultation=self.consultation_of(row), purpose=self.purpose(request),
            object_type=self.access_what, object_id=row.pk, details={"fhir": self.resource_type},
        )

    def log_search(self, request, rows) -> None:
        record_list_access(actor=request.user, what=self.access_what, rows=rows, filters=logged_filters(request, self.resource_type))


class ServiceRequestView(ConsultationBound):
    """JL-C4: 远程医疗申请（邀请）as FHIR R4 ServiceRequest；范围与 REST 接口相同（JL-O1），每次读取记入调阅日志（JL-C8）。"""

    resource_type = "ServiceRequest"
    last_updated = "updated_at"
    sealed_search_needs_purpose = False  # the list's summary, as the REST list
    search_params = (
        reference_param("patient", "Patient", "patient_id", _("患者（Patient/id）")),
        reference_param("requester", "Organization", "inviting_id", _("邀请方机构（Organization/id）")),
        reference_param("performer", "Organization", "invited_id", _("受邀方机构（Organization/id）")),
        token_param("status", "state", _("ServiceRequest.status（draft、active、on-hold、completed、revoked）"), fhir.states_for_request_status,
                    example="active", values=tuple(sorted(set(fhir.SERVICE_REQUEST_STATUS.values())))),
        token_param("identifier", "number", _("申请编号"), example="JL20261207001"),
    )

    def queryset(self, request):
        return self.consultations(request).select_related(*CONSULTATION_JOINS)

    def consultation_of(self, row):
        return row

    def resource(self, row, request) -> dict:
        return fhir.service_request(row)


class TaskView(ServiceRequestView):
    """申请的办理状态 as FHIR R4 Task（状态对照见 docs/fhir.md）；范围与 REST 接口相同（JL-O1），每次读取记入调阅日志（JL-C8）。"""

    resource_type = "Task"
    search_params = (
        reference_param("focus", "ServiceRequest", "pk", _("所办理的申请（ServiceRequest/id）")),
        reference_param("patient", "Patient", "patient_id", _("患者（Patient/id）")),
        reference_param("owner", "Organization", "invited_id", _("受邀方机构（Organization/id）")),
        reference_param("requester", "Organization", "inviting_id", _("邀请方机构（Organization/id）")),
        token_param("status", "state", _("Task.status（draft、requested、accepted、rejected、on-hold、ready、in-progress、completed、cancelled）"),
                    fhir.states_for_task_status, example="requested", values=tuple(sorted(set(fhir.TASK_STATUS.values())))),
        token_param("business-status", "state", _("门户状态（draft、sent、accepted、declined、returned、scheduled、in_session、signed、closed、cancelled）"),
                    example="sent"),
    )

    def resource(self, row, request) -> dict:
        return fhir.task(row)


class DiagnosticReportView(ConsultationBound):
    """JL-C6: 已签发的会诊意见/诊断报告 as FHIR R4 DiagnosticReport（id 为申请 id；每个签发版本可按 _history/版本号 读取）。"""

    resource_type = "DiagnosticReport"
    last_updated = "signed_at"
    versioned = True
    lookup = "consultation_id"
    access_what = "consultations.opinion"
    capability_note = _("id 为申请（ServiceRequest）id；meta.versionId 为签发版本（JL-C6），更正为新版本，旧版本可 vread")
    search_params = (
        reference_param("based-on", "ServiceRequest", "consultation_id", _("所属申请（ServiceRequest/id）")),
        reference_param("patient", "Patient", "consultation__patient_id", _("患者（Patient/id）")),
        reference_param("performer", "Practitioner", "signed_by_id", _("签发专家（Practitioner/id）")),
        token_param("status", "version", _("final（首次签发）或 corrected（更正版本）"), lambda s: {"final": [1], "corrected": list(range(2, 1000))}.get(s, []), example="final",
                    values=("final", "corrected")),
    )

    def _opinions(self, request):
        return Opinion.objects.filter(consultation__in=self.consultations(request)).select_related(
            "signed_by", *(f"consultation__{j}" for j in CONSULTATION_JOINS)
        ).annotate(patient_id=F("consultation__patient_id"), inviting_id=F("consultation__inviting_id"),
                   invited_id=F("consultation__invited_id"))

    def queryset(self, request):
        # One row per consultation: its latest signed version, whose id is the consultation's.
        newer = Opinion.objects.filter(consultation=OuterRef("consultation"), version__gt=OuterRef("version"))
        return self._opinions(request).filter(~Exists(newer))

    def resource(self, row, request) -> dict:
        return fhir.diagnostic_report(row, row.consultation)

    def version_row(self, request, row, version):
        return self._opinions(request).filter(consultation_id=row.consultation_id, version=version).first()

    def log_read(self, request, row) -> None:
        record_access(actor=request.user, action="view", consultation=row.consultation, purpose=self.purpose(request),
                      object_type=self.access_what, object_id=row.pk, details={"fhir": self.resource_type, "version": row.version})


class DocumentReferenceView(ConsultationBound):
    """JL-C5: 会诊资料 as FHIR R4 DocumentReference（SHA-256 见扩展 attachment-sha256；下载地址为 REST 下载接口，记入调阅日志）。"""

    resource_type = "DocumentReference"
    last_updated = "last_updated"
    access_what = "consultations.document"
    search_params = (
        reference_param("related", "ServiceRequest", "consultation_id", _("所属申请（ServiceRequest/id）")),
        reference_param("patient", "Patient", "consultation__patient_id", _("患者（Patient/id）")),
        token_param("type", "kind", _("资料类别（condition_summary、medical_record、test_report、imaging、ecg、pathology、consent、other）"),
                    example="test_report"),
    )

    def queryset(self, request):
        return Document.objects.filter(consultation__in=self.consultations(request)).select_related(
            *(f"consultation__{j}" for j in CONSULTATION_JOINS)
        ).annotate(last_updated=Coalesce("returned_at", "uploaded_at"), patient_id=F("consultation__patient_id"),
                   inviting_id=F("consultation__inviting_id"), invited_id=F("consultation__invited_id"))

    def resource(self, row, request) -> dict:
        url = request.build_absolute_uri(
            reverse("consultations-api:consultation-download", kwargs={"pk": row.consultation_id, "document_id": row.pk})
        )
        return fhir.document_reference(row, row.consultation, download_url=url)


class ConsentView(ConsultationBound):
    """JL-C3: 知情同意与敏感个人信息单独同意 as FHIR R4 Consent（meta.versionId 为同意书版本）。"""

    resource_type = "Consent"
    last_updated = "last_updated"
    versioned = True
    access_what = "consultations.consent"
    capability_note = _("meta.versionId 为同意书版本；重新记录的同意书为新版本，旧版本可 vread")
    search_params = (
        reference_param("patient", "Patient", "consultation__patient_id", _("患者（Patient/id）")),
        reference_param("data", "ServiceRequest", "consultation_id", _("所涉申请（ServiceRequest/id）")),
    )

    def queryset(self, request):
        return Consent.objects.filter(consultation__in=self.consultations(request)).select_related(
            *(f"consultation__{j}" for j in CONSULTATION_JOINS)
        ).annotate(last_updated=Coalesce("recorded_at", "signed_at"), patient_id=F("consultation__patient_id"),
                   inviting_id=F("consultation__inviting_id"), invited_id=F("consultation__invited_id"))

    def resource(self, row, request) -> dict:
        if isinstance(row, ConsentVersion):
            return fhir.consent(row, row.consultation, resource_id=row.consent_id)
        return fhir.consent(row, row.consultation)

    def version_row(self, request, row, version):
        """The current version is the ``Consent`` row; earlier ones are its ``ConsentVersion`` rows."""
        if version == row.version:
            return row
        earlier = ConsentVersion.objects.filter(consultation_id=row.consultation_id, version=version).first()
        if earlier is not None:
            earlier.consultation, earlier.consent_id = row.consultation, row.pk
        return earlier

    def log_read(self, request, row) -> None:
        record_access(actor=request.user, action="view", consultation=row.consultation, purpose=self.purpose(request),
                      object_type=self.access_what, object_id=getattr(row, "consent_id", row.pk),
                      details={"fhir": self.resource_type, "version": row.version})


class PatientView(FhirResourceView):
    """患者 as FHIR R4 Patient：证件号码与电话脱敏（JL-C9），仅本院临床医师与远程医疗协调员读取时完整显示并记为 record.reveal（JL-C8）。"""

    resource_type = "Patient"
    last_updated = "created_at"
    patient_data = True
    logged_when_empty = ("identifier",)  # a search by number is on record even when it finds nobody
    search_params = (
        reference_param("organization", "Organization", "facility_id", _("就诊机构（Organization/id）")),
        SearchParam("identifier", "token", _("病案号/门诊号或对接系统患者编号（完整）；身份证件号码须完整（经检索码，JL-C9）"),
                    lambda qs, v: qs.filter(Patient.objects.number_q(v.rpartition("|")[2].strip()) | _local_identifier(v)),
                    example="MZ-2024-77"),
    )

    def queryset(self, request):
        return Patient.objects.visible_to(request.user).select_related("facility")

    @staticmethod
    def _reveals(request, row) -> bool:
        """JL-C9 (issue 14): the full numbers go to the patient's own hospital — its clinicians and
        coordinators, and its own systems (a partner application acting for that facility, which sent
        the numbers in the first place). Every other reader gets them masked."""
        from facilities.choices import StaffRole
        from telemed.scope import Scope

        return selectors.may_reveal_identity(user=request.user, patient=row) or Scope.of(request.user).has_role(
            row.facility_id, StaffRole.PARTNER_SYSTEM)

    def resource(self, row, request) -> dict:
        # JL-C9: a list masks; a read shows the full numbers only to the patient's own hospital.
        revealed = self.interaction == "read" and self._reveals(request, row)
        return fhir.patient(row, revealed=revealed)

    def log_read(self, request, row) -> None:
        revealed = self._reveals(request, row)
        record_access(actor=request.user, action="reveal" if revealed else "view", patient=row,
                      purpose=request.query_params.get("purpose", ""), object_type="consultations.patient", object_id=row.pk,
                      details={"fhir": self.resource_type})

    def log_search(self, request, rows) -> None:
        record_list_access(actor=request.user, what="consultations.patient", rows=rows, filters=logged_filters(request, self.resource_type))


def _local_identifier(value: str):
    from django.db.models import Q

    text = value.rpartition("|")[2].strip()
    return Q(medical_record_number=text) | Q(external_id=text) if text else Q(pk__in=[])


RESOURCES = (ServiceRequestView, TaskView, DiagnosticReportView, DocumentReferenceView, ConsentView, PatientView)
