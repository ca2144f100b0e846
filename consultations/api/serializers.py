"""Partner API serializers for patients, admissions, the 24-hour obligations and requests.

Read serializers name every field and expose no more than a partner needs: identity and phone
numbers are masked (JL-C9), uploaded files are never given a public URL (their SHA-256 and an
authenticated download endpoint instead), user accounts appear only as display names. Write
serializers validate shapes only; the rules run in ``consultations.rules`` inside the services.
Where a missing value is a rule refusal (JL-C4 invitation contents, JL-C6 empty opinion, JL-O5
score), the field is optional here so that the service answers with the rule's ID.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from consultations.rules import mask_number
from facilities.api.serializers import FacilityRefSerializer
from facilities.choices import ImagingModality, PracticeScope, Title
from facilities.models import Facility, Physician, ServiceType
from telemed.api import ScopedPrimaryKeyRelatedField
from telemed.dates import DateTimeField

from .. import selectors
from ..choices import (
    ConsentRelation,
    ConsultationState,
    DocumentKind,
    ObligationState,
    RaterKind,
    ReferralDirection,
    ReferralKind,
    ReferralState,
    Sex,
    Side,
    TriggerKind,
    Urgency,
)
from ..models import (
    Admission,
    Consent,
    ConsentVersion,
    Consultation,
    Document,
    Obligation,
    Opinion,
    Participant,
    Patient,
    Rating,
    Referral,
    ResponsibilityRecord,
)

# --- JL-C9: masking -------------------------------------------------------------------------------


class MaskedNumberField(serializers.CharField):
    """A read-only identity or phone number, masked (JL-C9)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return mask_number(str(value or ""))


# --- Patients and admissions (JL-C2 (1)) --------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    sex_label = serializers.CharField(source="get_sex_display", read_only=True)
    id_number = MaskedNumberField(help_text="JL-C9: 身份证件号码（脱敏）")
    phone = MaskedNumberField(help_text="JL-C9: 联系电话（脱敏）")

    class Meta:
        model = Patient
        fields = [
            "id",
            "facility",
            "facility_name",
            "name",
            "sex",
            "sex_label",
            "birth_date",
            "id_number",
            "phone",
            "medical_record_number",
            "external_id",
            "created_at",
        ]
        read_only_fields = fields


class PatientRevealedSerializer(PatientSerializer):
    """``GET /patients/{id}/?reveal=1``: the full numbers, for the patient's own hospital (JL-C9);
    the view answers 403 to anyone else and logs every reveal (JL-C8)."""

    id_number = serializers.CharField(read_only=True, help_text="JL-C9: 身份证件号码（完整，查看已记入调阅日志）")
    phone = serializers.CharField(read_only=True, help_text="JL-C9: 联系电话（完整）")


class PatientRegisterSerializer(serializers.Serializer):
    """Idempotent on ``external_id``: pushing the same patient again returns the stored one."""

    facility = ScopedPrimaryKeyRelatedField(
        queryset=Facility.objects.all(), required=False, help_text="就诊机构 id；只属于一家机构时可省略"
    )
    name = serializers.CharField(max_length=50)
    sex = serializers.ChoiceField(choices=Sex.choices, help_text="GB/T 2261.1")
    birth_date = serializers.DateField()
    id_number = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    medical_record_number = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="对接系统患者编号（幂等键）"
    )


class AdmissionSerializer(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.name", read_only=True)

    class Meta:
        model = Admission
        fields = [
            "id",
            "facility",
            "patient",
            "patient_name",
            "inpatient_number",
            "ward",
            "admitted_at",
            "diagnosis",
            "diagnosis_confirmed_at",
            "discharged_at",
            "external_id",
        ]
        read_only_fields = fields


class AdmissionRecordSerializer(serializers.Serializer):
    patient = ScopedPrimaryKeyRelatedField(queryset=Patient.objects.select_related("facility"))
    inpatient_number = serializers.CharField(max_length=40)
    admitted_at = DateTimeField(help_text="入院时间（ISO 8601，含时区）")
    ward = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class DiagnosisSerializer(serializers.Serializer):
    diagnosis = serializers.CharField(max_length=200)
    confirmed_at = DateTimeField()


class DischargeSerializer(serializers.Serializer):
    discharged_at = DateTimeField()


# --- JL-C2: the 24-hour obligations --------------------------------------------------------------


class ObligationSerializer(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    trigger_label = serializers.CharField(source="get_trigger_display", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    consultation_number = serializers.CharField(source="consultation.number", read_only=True, default=None, allow_null=True)
    seconds_remaining = serializers.SerializerMethodField(
        help_text="JL-C2: 距上传截止的秒数（已超时为负数）；非待上传状态为 null"
    )

    class Meta:
        model = Obligation
        fields = [
            "id",
            "facility",
            "patient",
            "patient_name",
            "admission",
            "trigger",
            "trigger_label",
            "trigger_at",
            "due_at",
            "seconds_remaining",
            "state",
            "state_label",
            "trigger_details",
            "consultation",
            "consultation_number",
            "met_at",
            "withdrawn_reason",
            "created_at",
            "updated_at",  # issue 14: the last change (sync order)
        ]
        read_only_fields = fields

    def get_seconds_remaining(self, obligation: Obligation) -> int | None:
        """From the stored due time and the request's moment (``context["now"]``), never in SQL."""
        if obligation.state != ObligationState.OPEN:
            return None
        return int((obligation.due_at - self.context["now"]).total_seconds())


class ObligationOpenSerializer(serializers.Serializer):
    """Art. 22 (2) and (3); trigger (1) is opened by the sweep from admission records."""

    trigger = serializers.ChoiceField(
        choices=[
            (TriggerKind.EXPERT_CONSULT_FAILED.value, TriggerKind.EXPERT_CONSULT_FAILED.label),
            (TriggerKind.PATIENT_REQUEST.value, TriggerKind.PATIENT_REQUEST.label),
        ]
    )
    patient = ScopedPrimaryKeyRelatedField(queryset=Patient.objects.select_related("facility"))
    admission = ScopedPrimaryKeyRelatedField(queryset=Admission.objects.all(), required=False, allow_null=True, default=None)
    event_at = DateTimeField(help_text="（二）院内外专家会诊结束时间；（三）患方提出要求的时间")
    details = serializers.DictField(required=False, default=dict, help_text="触发情况（如会诊专家、患方诉求）")

    def validate(self, attrs):
        admission = attrs.get("admission")
        if admission is not None and admission.patient_id != attrs["patient"].pk:
            raise serializers.ValidationError({"admission": _("住院记录不属于该患者。")})
        return attrs


# --- Requests: reads ----------------------------------------------------------------------------


class PatientRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "name", "sex", "birth_date"]
        read_only_fields = fields


def _labels(model, name: str) -> dict:
    """``get_FIELD_display`` for every value at once (the labels are lazy: read them once per request)."""
    return {value: str(label) for value, label in model._meta.get_field(name).flatchoices}


def _not_none(represent):
    return lambda value: None if value is None else represent(value)


class ConsultationListRows(serializers.ListSerializer):
    """Issue 11: ``GET /consultations/`` from plain rows, without model instances or DRF's per-field work.

    ``rows(queryset)`` reads exactly the columns the list shows as named tuples (one query, the same
    joins; not the patient's encrypted numbers, the case text or the service's report template). The
    dicts built from them are the plain serializer's — same keys in the same order, same values and
    formats (``tests/consultations/test_api_list_rows.py`` compares them): labels are read once per
    request in the request's language, date-times are DRF's ISO 8601 in the current time zone.
    Model instances (or a subclass of the list serializer, such as the detail serializer) take DRF's
    plain path. A field added to ``ConsultationListSerializer.Meta.fields`` must be added here (the
    test fails until it is).
    """

    #: The columns of a row, the joined ones by their lookups (``service_type__name``).
    columns = (
        "pk", "number", "state", "service_type_id", "service_type__name", "service_type__category", "modality",
        "inviting_id", "inviting__name", "invited_id", "invited__name", "patient_id", "patient__name", "patient__sex",
        "patient__birth_date", "urgency", "requested_time", "created_at", "sent_at", "accepted_at", "scheduled_for",
        "signed_at", "closed_at", "duty_gap_flag", "updated_at",
    )

    @classmethod
    def rows(cls, queryset):
        """Named tuples with ``pk``, the foreign keys (``inviting_id``, ``patient_id``… for the JL-C8 access
        record) and what the list shows; ``updated_at`` and ``pk`` for the sync cursor."""
        rows = queryset.values_list(*cls.columns, named=True)
        # The joins only read columns (every foreign key here is required): the page's COUNT needs none of
        # them, and PostgreSQL cannot drop an inner join by itself. A clone (a filter, a slice) counts as usual.
        rows.count = queryset.count
        return rows

    def to_representation(self, data):
        rows = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        if type(self.child) is not ConsultationListSerializer or (rows and isinstance(rows[0], models.Model)):
            return super().to_representation(rows)
        states, urgencies = _labels(Consultation, "state"), _labels(Consultation, "urgency")
        if _iso_formats():
            tz = timezone.get_current_timezone()

            def moment(value):
                if value is None:
                    return None
                if type(value) is not dt.datetime or value.tzinfo is None:
                    return _DATETIME.to_representation(value)
                text = value.astimezone(tz).isoformat()
                return text[:-6] + "Z" if text.endswith("+00:00") else text

            day = _not_none(lambda value: value.isoformat() if type(value) is dt.date else _DATE.to_representation(value))
        else:
            moment, day = _not_none(_DATETIME.to_representation), _not_none(_DATE.to_representation)
        return [
            {
                "id": r.pk,
                "number": r.number,
                "state": r.state,
                "state_label": states.get(r.state, r.state),
                "service_type": r.service_type_id,
                "service_type_name": r.service_type__name,
                "category": r.service_type__category,
                "modality": r.modality,
                "inviting": {"id": r.inviting_id, "name": r.inviting__name},
                "invited": {"id": r.invited_id, "name": r.invited__name},
                "patient": {"id": r.patient_id, "name": r.patient__name, "sex": r.patient__sex, "birth_date": day(r.patient__birth_date)},
                "urgency": r.urgency,
                "urgency_label": urgencies.get(r.urgency, r.urgency),
                "requested_time": moment(r.requested_time),
                "created_at": moment(r.created_at),
                "sent_at": moment(r.sent_at),
                "accepted_at": moment(r.accepted_at),
                "scheduled_for": moment(r.scheduled_for),
                "signed_at": moment(r.signed_at),
                "closed_at": moment(r.closed_at),
                "duty_gap_flag": r.duty_gap_flag,
                "updated_at": moment(r.updated_at),
            }
            for r in rows
        ]


_DATETIME, _DATE = serializers.DateTimeField(), serializers.DateField()


def _iso_formats() -> bool:
    return settings.USE_TZ and all(
        isinstance(value, str) and value.lower() == ISO_8601 for value in (api_settings.DATETIME_FORMAT, api_settings.DATE_FORMAT)
    )


class ConsultationListSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    service_type_name = serializers.CharField(source="service_type.name", read_only=True)
    category = serializers.CharField(source="service_type.category", read_only=True)
    urgency_label = serializers.CharField(source="get_urgency_display", read_only=True)
    # Issue 14: blank for a service without a modality, so the schema's enum says "" too.
    modality = serializers.ChoiceField(choices=ImagingModality.choices, allow_blank=True, read_only=True)
    inviting = FacilityRefSerializer(read_only=True)
    invited = FacilityRefSerializer(read_only=True)
    patient = PatientRefSerializer(read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "number",
            "state",
            "state_label",
            "service_type",
            "service_type_name",
            "category",
            "modality",
            "inviting",
            "invited",
            "patient",
            "urgency",
            "urgency_label",
            "requested_time",
            "created_at",
            "sent_at",
            "accepted_at",
            "scheduled_for",
            "signed_at",
            "closed_at",
            "duty_gap_flag",
            "updated_at",  # issue 14: the last change (sync order)
        ]
        read_only_fields = fields
        list_serializer_class = ConsultationListRows  # issue 11: the same rows, built directly


# What the consent and each of its kept versions show (JL-C3).
_CONSENT_FIELDS = [
    "version", "signer_name", "relation", "relation_label", "signed_at", "signed_copy_sha256",
    "e_signature_reference", "sensitive_info_consent", "sensitive_info_consented_at", "recorded_at",
]


class ConsentVersionSerializer(serializers.ModelSerializer):
    """An earlier version of the consent, kept when it was recorded again (JL-C3)."""

    relation_label = serializers.CharField(source="get_relation_display", read_only=True)

    class Meta:
        model = ConsentVersion
        fields = [*_CONSENT_FIELDS, "superseded_at"]
        read_only_fields = fields


class ConsentSerializer(serializers.ModelSerializer):
    relation_label = serializers.CharField(source="get_relation_display", read_only=True)
    previous_versions = ConsentVersionSerializer(source="consultation.consent_versions", many=True, read_only=True)

    class Meta:
        model = Consent
        fields = [*_CONSENT_FIELDS, "previous_versions"]
        read_only_fields = fields


class ParticipantSerializer(serializers.ModelSerializer):
    physician_name = serializers.CharField(source="physician.name", read_only=True)
    physician_title = serializers.IntegerField(source="physician.title", read_only=True)
    physician_title_label = serializers.CharField(source="physician.get_title_display", read_only=True)
    side_label = serializers.CharField(source="get_side_display", read_only=True)

    class Meta:
        model = Participant
        fields = ["id", "physician", "physician_name", "physician_title", "physician_title_label", "side", "side_label", "added_at"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    """JL-C5: the fingerprint and provenance of an upload; the file itself only via ``download_url``."""

    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    uploaded_by_name = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="需凭据访问的下载地址（每次下载均记入审计日志）")

    class Meta:
        model = Document
        fields = [
            "id",
            "kind",
            "kind_label",
            "title",
            "original_name",
            "sha256",
            "size",
            "content_type",
            "uploaded_by_name",
            "uploaded_at",
            "returned_at",
            "return_reason",
            "download_url",
        ]
        read_only_fields = fields

    def get_uploaded_by_name(self, document: Document) -> str:
        user = document.uploaded_by
        return user.get_full_name() or user.get_username()

    def get_download_url(self, document: Document) -> str:
        path = reverse(
            "consultations-api:consultation-download",
            kwargs={"pk": document.consultation_id, "document_id": document.pk},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class StructureSectionOutSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField(help_text="栏目名称，如 影像所见")
    text = serializers.CharField()


class DiagnosisOutSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="ICD-10 编码（GB/T 14396），如 I21.001")
    text = serializers.CharField(help_text="诊断名称")


class OpinionStructureSerializer(serializers.Serializer):
    """JL-C11: a structured opinion or report as signed (JL-C6): the template's sections in order,
    the diagnoses, the recommendations."""

    schema = serializers.IntegerField(help_text="结构版本（当前为 1）")
    sections = StructureSectionOutSerializer(many=True)
    diagnoses = DiagnosisOutSerializer(many=True)
    recommendations = serializers.CharField()


class OpinionSerializer(serializers.ModelSerializer):
    """JL-C6: every signed version; a correction names the version it ``supersedes``.

    ``structure`` (JL-C11) is null for a free-text opinion; for a structured one ``content`` is its
    plain text. Both are covered by ``content_sha256``."""

    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    signed_by_name = serializers.CharField(source="signed_by.name", read_only=True)
    structure = serializers.SerializerMethodField()

    class Meta:
        model = Opinion
        fields = [
            "id",
            "kind",
            "kind_label",
            "version",
            "content",
            "signed_by",
            "signed_by_name",
            "signed_at",
            "content_sha256",
            "supersedes",
            "correction_reason",
            "recommends_transfer",
            "transfer_reason",
            "structure",
        ]
        read_only_fields = fields

    @extend_schema_field(OpinionStructureSerializer(allow_null=True))
    def get_structure(self, opinion: Opinion) -> dict | None:
        return OpinionStructureSerializer(opinion.structure).data if opinion.structure else None


class ResponsibilitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ResponsibilityRecord
        fields = [
            "id",
            "recorded_at",
            "occasion",
            "article",
            "inviting_facility",
            "invited_facility",
            "inviting_answers_for",
            "invited_answers_for",
        ]
        read_only_fields = fields


class RatingSerializer(serializers.ModelSerializer):
    rater_kind_label = serializers.CharField(source="get_rater_kind_display", read_only=True)

    class Meta:
        model = Rating
        fields = ["id", "rater_kind", "rater_kind_label", "score", "comment", "recorded_at"]
        read_only_fields = fields


class AllowedActionSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="POST /consultations/{id}/<action>/")
    label = serializers.CharField()


class ConsultationDetailSerializer(ConsultationListSerializer):
    """One request with everything a partner needs to follow it.

    ``allowed_actions`` is set on the instance by the view (from ``rules.decide_transition`` for
    the requesting user); the services decide again when an action is attempted.
    """

    wanted_scope_label = serializers.CharField(source="get_wanted_scope_display", read_only=True)
    wanted_title_label = serializers.CharField(source="get_wanted_title_display", read_only=True)
    agreement_number = serializers.CharField(source="agreement.number", read_only=True, default=None)
    consent = serializers.SerializerMethodField()
    participants = ParticipantSerializer(many=True, read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    opinions = OpinionSerializer(many=True, read_only=True)
    responsibilities = ResponsibilitySerializer(many=True, read_only=True)
    ratings = RatingSerializer(many=True, read_only=True)
    allowed_actions = AllowedActionSerializer(many=True, read_only=True)

    class Meta(ConsultationListSerializer.Meta):
        fields = [
            *ConsultationListSerializer.Meta.fields,
            "admission",
            "agreement_number",
            "reason",
            "purpose",
            "case_summary",
            "wanted_scope",
            "wanted_scope_label",
            "wanted_title",
            "wanted_title_label",
            "decline_reason",
            "return_reason",
            "cancel_reason",
            "video_link",
            "session_started_at",
            "consent",
            "participants",
            "documents",
            "opinions",
            "responsibilities",
            "ratings",
            "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(ConsentSerializer(allow_null=True))
    def get_consent(self, consultation: Consultation) -> dict | None:
        consent = selectors.consent_for(consultation)
        return ConsentSerializer(consent).data if consent is not None else None


class ConsultationQuerySerializer(serializers.Serializer):
    side = serializers.ChoiceField(
        choices=Side.choices, required=False, allow_blank=True, help_text="inviting: 本机构发出；invited: 本机构收到"
    )
    state = serializers.ChoiceField(choices=ConsultationState.choices, required=False, allow_blank=True)
    search = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="申请编号或患者姓名")
    open = serializers.BooleanField(required=False, default=False, help_text="仅未结束的申请")


# --- Requests: writes ---------------------------------------------------------------------------


class ConsultationCreateSerializer(serializers.Serializer):
    """A draft (JL-C1, JL-C4). The inviting facility is the patient's own facility."""

    patient = ScopedPrimaryKeyRelatedField(queryset=Patient.objects.select_related("facility"))
    invited = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="受邀方机构 id")
    service_type = serializers.SlugRelatedField(slug_field="code", queryset=ServiceType.objects.all(), help_text="服务项目编码")
    admission = ScopedPrimaryKeyRelatedField(queryset=Admission.objects.all(), required=False, allow_null=True, default=None)
    modality = serializers.ChoiceField(choices=ImagingModality.choices, required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    purpose = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    case_summary = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    wanted_scope = serializers.ChoiceField(choices=PracticeScope.choices, required=False, allow_blank=True, default="")
    wanted_title = serializers.ChoiceField(choices=Title.choices, required=False, default=Title.ASSOCIATE_CHIEF_PHYSICIAN)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, default=Urgency.ROUTINE)
    requested_time = DateTimeField(required=False, allow_null=True, default=None)


class ConsentRecordSerializer(serializers.Serializer):
    """Multipart. JL-C3: a signed copy (file) or an e-signature reference; the sensitive-information
    consent (PIPL art. 29) is a separate yes/no."""

    signer_name = serializers.CharField(max_length=50)
    relation = serializers.ChoiceField(choices=ConsentRelation.choices)
    signed_at = DateTimeField()
    sensitive_info_consent = serializers.BooleanField(help_text="是否单独同意向受邀方提供敏感个人信息")
    signed_copy = serializers.FileField(required=False, allow_null=True, default=None, help_text="知情同意书签署件")
    e_signature_reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ParticipantAddSerializer(serializers.Serializer):
    physician = ScopedPrimaryKeyRelatedField(queryset=Physician.objects.all(), help_text="邀请方经治医师 id")


class DocumentUploadSerializer(serializers.Serializer):
    """Multipart. An empty or disallowed file is refused by the service under JL-C5."""

    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(allow_empty_file=True)


class ReturnMaterialSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    document_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, help_text="退回的资料 id"
    )


class ExpertCandidateSerializer(serializers.ModelSerializer):
    """A physician whom ``assign`` would accept now (JL-P1..P6, JL-C4)."""

    title_label = serializers.CharField(source="get_title_display", read_only=True)
    scope_labels = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Physician
        fields = ["id", "name", "title", "title_label", "scopes", "scope_labels"]
        read_only_fields = fields


class ExpertAssignSerializer(serializers.Serializer):
    physician = ScopedPrimaryKeyRelatedField(queryset=Physician.objects.all(), help_text="受邀方专家 id")


class ScheduleSerializer(serializers.Serializer):
    scheduled_for = DateTimeField()
    video_link = serializers.CharField(max_length=300)


class StructureSectionInSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=30, help_text="报告模板中的栏目编码，如 findings")
    text = serializers.CharField(allow_blank=True, max_length=20000)


class DiagnosisInSerializer(serializers.Serializer):
    code = serializers.CharField(
        allow_blank=True, max_length=50,
        help_text="ICD-10 编码，如 I21 或 I21.001；格式不符时拒绝，code 为 icd10_invalid（JL-C11）",
    )
    text = serializers.CharField(allow_blank=True, max_length=1000, help_text="诊断名称")


class StructureInSerializer(serializers.Serializer):
    """JL-C11: a structured opinion or report, in the sections of the service type's template
    (``GET /service-types/{code}/`` → ``report_template``). The rules run in the service."""

    sections = StructureSectionInSerializer(many=True, required=False, default=list)
    diagnoses = DiagnosisInSerializer(many=True, required=False, default=list, help_text="1 至 10 条诊断")
    recommendations = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)

    def validate_sections(self, rows):
        keys = [row["key"] for row in rows]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError(_("栏目编码不能重复。"))
        return rows

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        values["sections"] = {row["key"]: row["text"] for row in values["sections"]}
        values["diagnoses"] = [dict(d) for d in values["diagnoses"]]
        return values


class SignSerializer(serializers.Serializer):
    content = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="会诊意见或诊断报告内容（自由文本；提交 structure 时留空）"
    )
    structure = StructureInSerializer(
        required=False, allow_null=True, default=None, help_text="JL-C11: 结构化意见/报告（代替 content）"
    )
    recommends_transfer = serializers.BooleanField(required=False, default=False, help_text="JL-C10: 建议转诊（随内容一同签发）")
    transfer_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="JL-C10: 建议转诊的简要理由（建议转诊时必填）"
    )


class CorrectSerializer(SignSerializer):
    correction_reason = serializers.CharField(allow_blank=True, max_length=2000)
    opinion = serializers.IntegerField(min_value=1, help_text="被更正的（最新）版本 id")


# --- JL-C10: two-way referral ----------------------------------------------------------------------


class ReferralSerializer(serializers.ModelSerializer):
    """A referral of a case's patient (JL-C10): who receives, where, when, and each step's time."""

    consultation_number = serializers.CharField(source="consultation.number", read_only=True)
    patient_name = serializers.CharField(source="consultation.patient.name", read_only=True)
    direction_label = serializers.CharField(source="get_direction_display", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    sending = FacilityRefSerializer(read_only=True)
    receiving = FacilityRefSerializer(read_only=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "consultation",
            "consultation_number",
            "patient_name",
            "opinion",
            "direction",
            "direction_label",
            "sending",
            "receiving",
            "department",
            "kind",
            "kind_label",
            "scheduled_for",
            "note",
            "state",
            "state_label",
            "offered_at",
            "confirmed_at",
            "transferred_at",
            "ended_at",
            "end_reason",
        ]
        read_only_fields = fields


class ReferralOfferSerializer(serializers.Serializer):
    consultation = ScopedPrimaryKeyRelatedField(queryset=Consultation.objects.all(), help_text="远程医疗申请 id")
    direction = serializers.ChoiceField(choices=ReferralDirection.choices, help_text="up 上转（受邀方提供）；down 下转（邀请方提供）")
    department = serializers.CharField(max_length=100, allow_blank=True, help_text="接收科室")
    kind = serializers.ChoiceField(choices=ReferralKind.choices, help_text="预约号源或预留床位")
    scheduled_for = DateTimeField(help_text="预约或入院时间，不能早于当前时间")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReferralQuerySerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=ReferralDirection.choices, required=False)
    state = serializers.ChoiceField(choices=ReferralState.choices, required=False)
    consultation = serializers.IntegerField(min_value=1, required=False)


class RateSerializer(serializers.Serializer):
    rater_kind = serializers.ChoiceField(choices=RaterKind.choices)
    score = serializers.IntegerField(help_text="JL-O5: 1 到 5")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
