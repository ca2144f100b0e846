"""Partner API serializers for facilities, agreements, physicians, duty and suspensions.

Read serializers name every field explicitly and expose no more than the portal's own list pages:
no user accounts, no certificate or qualification numbers, no file URLs (uploaded files are never
served from a public URL; their SHA-256 is given instead). Write serializers only validate shapes;
the rules live in ``facilities.rules`` and run inside the services.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from telemed.api import ScopedPrimaryKeyRelatedField
from telemed.dates import DateTimeField

from .. import selectors
from ..choices import (
    AccreditationCondition,
    ActingRole,
    PracticeScope,
    ServiceCategory,
    SuspensionCause,
    Title,
)
from ..models import (
    AccreditationApplication,
    AccreditationItem,
    AssessmentEntry,
    CooperationAgreement,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    ServiceType,
    StaffMembership,
    Suspension,
    SuspensionFollowUp,
)

# --- Shared pieces ----------------------------------------------------------------------------


class CheckSerializer(serializers.Serializer):
    """One rule check (``telemed.checks.Check``): rule ID, article, what was checked, result, why."""

    rule = serializers.CharField(read_only=True)
    article = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    passed = serializers.BooleanField(read_only=True)
    detail = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True)


class FacilityRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Facility
        fields = ["id", "name"]
        read_only_fields = fields


# --- Facilities (JL-F1, JL-F2, JL-F5) ---------------------------------------------------------


class FacilitySerializer(serializers.ModelSerializer):
    division_name = serializers.CharField(source="division.name", read_only=True)
    level_label = serializers.CharField(source="get_level_display", read_only=True)
    grade_label = serializers.CharField(source="get_grade_display", read_only=True)
    accreditation_status_label = serializers.CharField(source="get_accreditation_status_display", read_only=True)
    is_suspended = serializers.BooleanField(read_only=True, help_text="JL-F5: 处于暂停远程医疗服务状态")
    participation = serializers.SerializerMethodField(help_text="JL-F1、JL-F5: 能否参与远程医疗服务的各项检查")

    class Meta:
        model = Facility
        fields = [
            "id",
            "name",
            "licence_number",
            "licence_expires_on",
            "licence_issuer",
            "level",
            "level_label",
            "grade",
            "grade_label",
            "kind",
            "division",
            "division_name",
            "address",
            "phone",
            "accreditation_status",
            "accreditation_status_label",
            "accredited_on",
            "is_suspended",
            "participation",
            "updated_at",  # issue 14: the last change (sync order; a suspension reported or lifted counts)
        ]
        read_only_fields = fields

    @extend_schema_field(CheckSerializer(many=True))
    def get_participation(self, facility: Facility) -> list[dict]:
        return CheckSerializer(selectors.facility_participation(facility), many=True).data


# --- Cooperation agreements (JL-F2, JL-F3) ----------------------------------------------------


class AgreementSerializer(serializers.ModelSerializer):
    inviting = FacilityRefSerializer(read_only=True)
    invited = FacilityRefSerializer(read_only=True)
    service_types = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = CooperationAgreement
        fields = [
            "id",
            "number",
            "inviting",
            "invited",
            "service_types",
            "valid_from",
            "valid_until",
            "purpose",
            "conditions",
            "process",
            "rights_obligations",
            "liability_sharing",
            "inviting_fee_share",
            "invited_fee_share",
            "signed_copy_sha256",
            "status",
            "status_label",
            "terminated_at",
            "termination_reason",
            "created_at",
        ]
        read_only_fields = fields


class AgreementRegisterSerializer(serializers.Serializer):
    """Multipart: ``service_types`` repeated once per code, ``signed_copy`` the signed agreement file.

    Either party may be a facility the registering administrator cannot see yet (a first agreement
    is what makes the counterpart visible), so both resolve among all facilities; the service only
    lets an administrator of one of the two parties register.
    """

    number = serializers.CharField(max_length=50)
    inviting = serializers.PrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="邀请方机构 id")
    invited = serializers.PrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="受邀方机构 id")
    service_types = serializers.SlugRelatedField(
        many=True, slug_field="code", queryset=ServiceType.objects.filter(active=True), help_text="服务项目编码"
    )
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    purpose = serializers.CharField(allow_blank=True, default="")
    conditions = serializers.CharField(allow_blank=True, default="")
    process = serializers.CharField(allow_blank=True, default="")
    rights_obligations = serializers.CharField(allow_blank=True, default="")
    liability_sharing = serializers.CharField(allow_blank=True, default="")
    inviting_fee_share = serializers.IntegerField(min_value=0, max_value=1000)
    invited_fee_share = serializers.IntegerField(min_value=0, max_value=1000)
    signed_copy = serializers.FileField(help_text="协议签署件")


# --- Physicians (JL-P1..P6) -------------------------------------------------------------------


class PhysicianQualificationsSerializer(serializers.Serializer):
    """JL-P1, P4, P5: a renewed certificate, a new title, changed scopes (input)."""

    certificate_number = serializers.CharField(max_length=30, help_text="医师执业证书编码")
    certificate_valid_until = serializers.DateField(allow_null=True, required=False, default=None, help_text="留空表示长期有效")
    certificate_revoked = serializers.BooleanField(required=False, default=False)
    title = serializers.ChoiceField(choices=Title.choices, help_text="GB/T 8561 专业技术职务代码")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=PracticeScope.choices), allow_empty=False)


class PhysicianQualificationsOutSerializer(serializers.ModelSerializer):
    title_label = serializers.CharField(source="get_title_display", read_only=True)

    class Meta:
        model = Physician
        fields = ["id", "name", "certificate_number", "certificate_valid_until", "certificate_revoked", "title", "title_label", "scopes"]
        read_only_fields = fields


class RegistrationSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    verified = serializers.SerializerMethodField(help_text="JL-P3: 已经所在机构核验")
    authorised = serializers.SerializerMethodField(help_text="JL-P6: 已获所在机构授权且未撤销")

    class Meta:
        model = PracticeRegistration
        fields = ["id", "physician", "facility", "facility_name", "is_primary", "verified", "authorised"]
        read_only_fields = fields

    def get_verified(self, registration: PracticeRegistration) -> bool:
        return registration.verified_at is not None

    def get_authorised(self, registration: PracticeRegistration) -> bool:
        return registration.authorised_at is not None and registration.authorisation_revoked_at is None


class PhysicianSerializer(serializers.ModelSerializer):
    """What the physician list page shows: name, title, scopes and each visible registration."""

    title_label = serializers.CharField(source="get_title_display", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=PracticeScope.choices), read_only=True)
    scope_labels = serializers.ListField(child=serializers.CharField(), read_only=True)
    platform_registered = serializers.SerializerMethodField(help_text="JL-P3: 已在省平台注册")
    registrations = RegistrationSerializer(many=True, read_only=True)

    class Meta:
        model = Physician
        # updated_at (issue 14): the last change, its registrations' included (sync order).
        fields = ["id", "name", "title", "title_label", "scopes", "scope_labels", "platform_registered", "registrations", "updated_at"]
        read_only_fields = fields

    def get_platform_registered(self, physician: Physician) -> bool:
        return physician.platform_registered_at is not None


class PhysicianRegisterSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="执业机构 id")
    name = serializers.CharField(max_length=50)
    qualification_number = serializers.CharField(max_length=30)
    qualification_obtained_on = serializers.DateField()
    certificate_number = serializers.CharField(max_length=30)
    certificate_valid_until = serializers.DateField(allow_null=True, required=False, default=None, help_text="留空表示长期有效")
    title = serializers.ChoiceField(choices=Title.choices)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=PracticeScope.choices), allow_empty=False)
    registered_on = serializers.DateField()
    registration_valid_until = serializers.DateField(allow_null=True, required=False, default=None)
    is_primary = serializers.BooleanField(default=False)


class QualificationQuerySerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="代表的机构 id")
    role = serializers.ChoiceField(choices=ActingRole.choices, help_text="expert: 受邀方专家；attending: 邀请方经治医师")
    scope = serializers.ChoiceField(choices=PracticeScope.choices, required=False, help_text="所需执业范围（专家必填）")
    on = serializers.DateField(required=False, help_text="检查日期，默认今天")

    def validate(self, attrs):
        if attrs["role"] == ActingRole.EXPERT and not attrs.get("scope"):
            raise serializers.ValidationError({"scope": "受邀方专家须指明所需执业范围（JL-P5）。"})
        return attrs


class QualificationSerializer(serializers.Serializer):
    physician = serializers.IntegerField()
    facility = serializers.IntegerField()
    role = serializers.ChoiceField(choices=ActingRole.choices)
    scope = serializers.ChoiceField(choices=PracticeScope.choices, allow_null=True)
    on = serializers.DateField()
    qualified = serializers.BooleanField(help_text="所有检查均通过")
    failing_rules = serializers.ListField(child=serializers.CharField())
    checks = CheckSerializer(many=True)


# --- Duty roster (JL-F4) ----------------------------------------------------------------------


class DutyShiftSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    physician_name = serializers.CharField(source="physician.name", read_only=True)
    scope_label = serializers.CharField(source="get_scope_display", read_only=True)

    class Meta:
        model = DutyShift
        fields = ["id", "facility", "facility_name", "physician", "physician_name", "scope", "scope_label", "starts_at", "ends_at"]
        read_only_fields = fields


class DutyShiftAddSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all())
    physician = ScopedPrimaryKeyRelatedField(queryset=Physician.objects.all())
    scope = serializers.ChoiceField(choices=PracticeScope.choices)
    starts_at = DateTimeField()
    ends_at = DateTimeField()


# --- Suspension (JL-F5) -----------------------------------------------------------------------


class SuspensionSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    cause_label = serializers.CharField(source="get_cause_display", read_only=True)
    issuing_division_name = serializers.CharField(source="issuing_division.name", read_only=True)
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = Suspension
        fields = [
            "id",
            "facility",
            "facility_name",
            "cause",
            "cause_label",
            "description",
            "reported_at",
            "issuing_division",
            "issuing_division_name",
            "is_open",
            "lifted_at",
            "lift_reason",
        ]
        read_only_fields = fields

    def get_is_open(self, suspension: Suspension) -> bool:
        return suspension.lifted_at is None


class FollowUpSerializer(serializers.ModelSerializer):
    """JL-O7 (art. 34): one entry of a stop-and-report's follow-up."""

    class Meta:
        model = SuspensionFollowUp
        fields = ["id", "written_at", "by_regulator", "text"]
        read_only_fields = ["id", "written_at", "by_regulator"]
        extra_kwargs = {"text": {"max_length": 5000}}


class SuspensionReportSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all())
    cause = serializers.ChoiceField(choices=SuspensionCause.choices)
    description = serializers.CharField(allow_blank=True, default="", max_length=5000)


# --- Accreditation (JL-F1) --------------------------------------------------------------------


class AccreditationItemSerializer(serializers.ModelSerializer):
    condition_label = serializers.CharField(source="get_condition_display", read_only=True)

    class Meta:
        model = AccreditationItem
        fields = ["condition", "condition_label", "statement", "evidence_sha256"]
        read_only_fields = fields


class AccreditationApplicationSerializer(serializers.ModelSerializer):
    facility = FacilityRefSerializer(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    items = AccreditationItemSerializer(many=True, read_only=True)

    class Meta:
        model = AccreditationApplication
        fields = ["id", "facility", "status", "status_label", "submitted_at", "decided_at", "decision_reason", "items"]
        read_only_fields = fields


class AccreditationDecideSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AccreditationApplySerializer(serializers.Serializer):
    """Multipart: ``facility`` plus, for each of the seven conditions of art. 13,
    ``<condition>_statement`` and ``<condition>_evidence`` (e.g. ``c1_licence_statement``).

    A missing condition is not a shape error here: the service refuses the application with
    JL-F1 and lists every missing condition at once.
    """

    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all())

    def get_fields(self):
        fields = super().get_fields()
        for condition in AccreditationCondition:
            fields[f"{condition.value}_statement"] = serializers.CharField(
                required=False, allow_blank=True, default="", help_text=str(condition.label)
            )
            fields[f"{condition.value}_evidence"] = serializers.FileField(
                required=False, allow_null=True, default=None, help_text=f"{condition.label}：证明材料"
            )
        return fields


class MembershipSerializer(serializers.ModelSerializer):
    """A staff role at a facility; an ended one keeps who ended it, when and why."""

    username = serializers.CharField(source="user.username", read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = StaffMembership
        fields = ["id", "user", "username", "facility", "role", "role_label", "active", "ended_at", "end_reason"]
        read_only_fields = fields


class MembershipRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000, help_text="撤销原因，如：已离职")


class ServiceTypeSerializer(serializers.ModelSerializer):
    """JL-C1 (art. 3): a service type; ``required_scope`` is what a diagnosis report needs (JL-P5)."""

    category_label = serializers.CharField(source="get_category_display", read_only=True)
    # Issue 14: blank when no scope is required, so the schema's enum says "" too.
    required_scope = serializers.ChoiceField(choices=PracticeScope.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ServiceType
        fields = ["code", "name", "category", "category_label", "required_scope", "needs_modality", "negotiated_split", "built_in", "active",
                  "report_template"]
        read_only_fields = fields


class ReportSectionSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=30, help_text="栏目编码：小写字母开头，字母、数字、下划线")
    label = serializers.CharField(max_length=30, help_text="栏目名称，如 影像所见")


class ReportTemplateSerializer(serializers.Serializer):
    """JL-C11: the sections an opinion or report of the service is written in; ``modalities`` gives
    an imaging modality its own (``{"ecg": [...]}``). The rules run in the service."""

    sections = ReportSectionSerializer(many=True, required=False, default=list)
    modalities = serializers.DictField(child=ReportSectionSerializer(many=True), required=False, default=dict)


class ServiceTypeAddSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=40, help_text="小写字母、数字、下划线")
    name = serializers.CharField(max_length=50)
    category = serializers.ChoiceField(choices=ServiceCategory.choices)
    required_scope = serializers.ChoiceField(choices=PracticeScope.choices, required=False, allow_blank=True, default="",
                                             help_text="诊断类项目必填（JL-P5）")
    needs_modality = serializers.BooleanField(required=False, default=False)
    negotiated_split = serializers.BooleanField(required=False, default=False)


class AssessmentEntrySerializer(serializers.ModelSerializer):
    """An entry of a physician's assessment file (考核档案, JL-P6 art. 31)."""

    facility_name = serializers.CharField(source="facility.name", read_only=True)
    audit_sequence = serializers.IntegerField(source="log_sequence", read_only=True, allow_null=True,
                                              help_text="The attempt's position in the audit chain (null until chained, JL-A1)")

    class Meta:
        model = AssessmentEntry
        fields = ["id", "physician", "facility", "facility_name", "occurred_at", "rule", "description", "audit_sequence"]
        read_only_fields = fields
