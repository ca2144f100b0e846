"""Forms of the consultations pages: input shape only. Every rule is checked by ``services``.

A write form's fields are named after its service's keyword arguments, so a valid form is passed
on whole (as in ``facilities.forms``). Choice lists that depend on the user or the case — the
agreements in force, the physicians registered at a facility, a case's documents — come from the
view, through ``selectors``.
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from facilities.choices import ImagingModality, PracticeScope, Title
from facilities.forms import DateInput, DateTimeInput, FacilityChoiceField, PhysicianChoiceField, PortalForm
from telemed.dates import DateTimeFormField

from .choices import (
    ConsentRelation,
    DocumentKind,
    ObligationState,
    RaterKind,
    ReferralDirection,
    ReferralKind,
    ReferralState,
    Sex,
    Urgency,
)


def _blank(label) -> list[tuple[str, str]]:
    return [("", label)]


def _admission_label(admission) -> str:
    admitted = timezone.localtime(admission.admitted_at)
    return " ".join(
        part for part in (admission.inpatient_number, admission.ward, f"{admitted:%Y-%m-%d}") if part
    )


def _text(rows: int = 3, **attrs):
    return forms.Textarea(attrs={"rows": rows, **attrs})


class ExpertChoiceField(PhysicianChoiceField):
    """A physician with title and registered scopes, so the coordinator sees who fits (JL-P4, P5)."""

    def label_from_instance(self, obj) -> str:
        scopes = "、".join(obj.scope_labels())
        return (
            f"{obj.name}（{obj.get_title_display()}；{scopes}）"
            if scopes
            else super().label_from_instance(obj)
        )


# --- Lists ------------------------------------------------------------------------------------


class ObligationFilterForm(PortalForm):
    state = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=list(ObligationState.choices) + [("all", _("全部"))],
    )


class NotificationFilterForm(PortalForm):
    unread_only = forms.BooleanField(label=_("只看未读"), required=False)


# --- New request: (a) patient, (b) destination, (c) invitation -----------------------------


class PatientRegisterForm(PortalForm):
    """A new patient in the facility's own index (``services.patient_register``)."""

    facility = FacilityChoiceField(label=_("就诊机构"), queryset=None)
    name = forms.CharField(label=_("姓名"), max_length=50)
    sex = forms.ChoiceField(label=_("性别"), choices=Sex.choices)
    birth_date = forms.DateField(label=_("出生日期"), widget=DateInput())
    id_number = forms.CharField(label=_("身份证件号码"), max_length=30, required=False)
    phone = forms.CharField(label=_("联系电话"), max_length=20, required=False)
    medical_record_number = forms.CharField(label=_("病案号/门诊号"), max_length=40, required=False)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities
        if facilities.count() == 1:
            self.fields["facility"].widget = forms.HiddenInput()


class ConsultationRequestForm(PortalForm):
    """JL-C1, JL-C4: destination and invitation contents (``services.consultation_create``).

    ``destination`` offers only the pairs of invited facility and service type that an agreement
    in force today allows (JL-F3), grouped by facility; it becomes ``invited`` and ``service_type``.
    """

    admission = forms.ModelChoiceField(
        label=_("关联住院"), queryset=None, required=False, empty_label=_("不关联（门诊或其他）")
    )
    destination = forms.ChoiceField(label=_("受邀方与服务项目"))
    modality = forms.ChoiceField(
        label=_("影像类别"),
        required=False,
        choices=_blank(_("不适用")) + list(ImagingModality.choices),
        help_text=_("远程医学影像诊断须注明（JL-C1 第三条）"),
    )
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    requested_time = DateTimeFormField(label=_("期望会诊时间"), required=False, widget=DateTimeInput())
    wanted_scope = forms.ChoiceField(
        label=_("所需专业"), choices=_blank(_("请选择专业")) + list(PracticeScope.choices)
    )
    wanted_title = forms.TypedChoiceField(
        label=_("所需专家职称（最低）"),
        coerce=int,
        choices=[
            (t.value, t.label)
            for t in (Title.CHIEF_PHYSICIAN, Title.ASSOCIATE_CHIEF_PHYSICIAN, Title.ATTENDING_PHYSICIAN)
        ],
        initial=Title.ASSOCIATE_CHIEF_PHYSICIAN,
    )
    reason = forms.CharField(label=_("申请理由"), widget=_text(3))
    purpose = forms.CharField(label=_("会诊目的"), widget=_text(3))
    case_summary = forms.CharField(
        label=_("病例摘要"),
        widget=_text(6),
        help_text=_("主诉、现病史、既往史、主要检查结果、初步诊断和治疗经过"),
    )

    def __init__(self, *args, agreements, admissions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["admission"].queryset = admissions
        self.fields["admission"].label_from_instance = _admission_label
        self.allowed: dict[str, tuple] = {}
        groups: dict[int, tuple[str, list]] = {}
        for agreement in agreements:
            invited = agreement.invited
            label = f"{invited.name}（{invited.level_and_grade}）"
            if agreement.invited_suspended:
                label += str(_("· 暂停中"))
            _label, options = groups.setdefault(invited.pk, (label, []))
            for service_type in agreement.service_types.all():
                key = f"{invited.pk}:{service_type.code}"
                if key not in self.allowed:
                    self.allowed[key] = (invited, service_type)
                    options.append((key, f"{invited.name} · {service_type.label}"))
        self.fields["destination"].choices = _blank(_("请选择受邀方和服务项目")) + [
            (label, options) for label, options in groups.values() if options
        ]
        self.invited_facilities = [invited for invited, _service in self.allowed.values()]

    def clean(self):
        cleaned = super().clean()
        pair = self.allowed.get(cleaned.pop("destination", ""))
        if pair is not None:
            cleaned["invited"], cleaned["service_type"] = pair
        return cleaned


# --- The case page: preparing and sending (JL-C3, JL-C5) -------------------------------------


class ConsentForm(PortalForm):
    """JL-C3 (art. 20, 21, 23; 个人信息保护法 art. 29)."""

    signer_name = forms.CharField(label=_("签署人"), max_length=50)
    relation = forms.ChoiceField(label=_("与患者关系"), choices=ConsentRelation.choices)
    signed_at = DateTimeFormField(label=_("签署时间"), widget=DateTimeInput())
    signed_copy = forms.FileField(
        label=_("知情同意书签署件"), required=False, help_text=_("扫描件（PDF 或图片）")
    )
    e_signature_reference = forms.CharField(
        label=_("或：电子签名凭证"),
        max_length=200,
        required=False,
        help_text=_("无纸质签署件时填写电子签名凭证编号"),
    )
    sensitive_info_consent = forms.BooleanField(
        label=_("患者（或其法定代理人）已单独同意向受邀方提供敏感个人信息（个人信息保护法第二十九条）"),
        required=False,
    )


class ParticipantForm(PortalForm):
    """JL-C3 (art. 23): the attending physician of the inviting facility."""

    physician = PhysicianChoiceField(label=_("邀请方经治医师"), queryset=None)

    def __init__(self, *args, physicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["physician"].queryset = physicians


class DocumentForm(PortalForm):
    """JL-C5 (art. 29): the portal keeps the file's SHA-256, size and real type."""

    kind = forms.ChoiceField(label=_("资料类别"), choices=DocumentKind.choices)
    title = forms.CharField(label=_("名称"), max_length=200, required=False, help_text=_("留空则使用文件名"))
    upload = forms.FileField(
        label=_("文件"),
        required=False,
        help_text=_("PDF、JPEG、PNG、TIFF、DICOM、文本或 XML，单个不超过 200 MB"),
    )


class ConfirmForm(PortalForm):
    """A button (send, accept, start, close): no input, but a place for the refusal's reasons."""


class ReasonForm(PortalForm):
    reason = forms.CharField(label=_("理由"), widget=_text(3), required=False)

    def __init__(self, *args, label=None, **kwargs):
        super().__init__(*args, **kwargs)
        if label:
            self.fields["reason"].label = label


class ReturnMaterialForm(PortalForm):
    """JL-C5 (art. 29): the invited side returns material as insufficient, with a reason."""

    reason = forms.CharField(label=_("退回理由"), widget=_text(3), required=False)
    document_ids = forms.TypedMultipleChoiceField(
        label=_("需补充或重新上传的资料"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, documents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["document_ids"].choices = [
            (d.pk, f"{d.title}（{d.get_kind_display()}）") for d in documents if d.returned_at is None
        ]


class ExpertAssignForm(PortalForm):
    """The invited coordinator assigns an expert; every JL-P check runs as of now.

    Only ``offered`` physicians (those who pass every JL-P check for this case and the title
    wanted, ``selectors.expert_candidates``) are listed; any physician of the facility is still
    accepted on submission, so a stale page gets the service's refusal with every reason (and
    the refusal is audited, JL-P6) rather than a bare "invalid choice".
    """

    physician = ExpertChoiceField(label=_("会诊专家"), queryset=None)

    def __init__(self, *args, physicians, offered=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["physician"]
        field.queryset = physicians
        if offered is not None:
            field.choices = [("", field.empty_label)] + [(p.pk, field.label_from_instance(p)) for p in offered]


class ScheduleForm(PortalForm):
    scheduled_for = DateTimeFormField(label=_("会诊时间"), widget=DateTimeInput())
    video_link = forms.CharField(label=_("视频会议链接"), max_length=300, required=False,
                                 help_text=_("以 https:// 开头的网址，例如 https://meet.example.cn/room-1"))


class TransferRecommendationFields(forms.Form):
    """JL-C10 (art. 9): a recommendation to transfer, signed with the content (JL-C6)."""

    recommends_transfer = forms.BooleanField(label=_("建议转诊（开通绿色通道上转）"), required=False)
    transfer_reason = forms.CharField(
        label=_("建议转诊理由"), max_length=200, required=False, help_text=_("建议转诊时必填，200 字以内")
    )


class SignForm(PortalForm, TransferRecommendationFields):
    """JL-C6: the assigned expert signs; the signed text can no longer change."""

    content = forms.CharField(label=_("意见/报告内容"), widget=_text(8), required=False)
    field_order = ["content", "recommends_transfer", "transfer_reason"]


class CorrectForm(PortalForm, TransferRecommendationFields):
    """JL-C6: a correction is a new signed version pointing to the one it corrects."""

    content = forms.CharField(label=_("更正后的完整内容"), widget=_text(8), required=False)
    correction_reason = forms.CharField(label=_("更正理由"), widget=_text(2), required=False)
    field_order = ["content", "correction_reason", "recommends_transfer", "transfer_reason"]


class ReferralOfferForm(PortalForm):
    """JL-C10 (art. 9): the receiving facility offers a place through the green channel."""

    direction = forms.ChoiceField(label=_("转诊方向"), choices=ReferralDirection.choices)
    department = forms.CharField(label=_("接收科室"), max_length=100, required=False)
    kind = forms.ChoiceField(label=_("安排方式"), choices=ReferralKind.choices)
    scheduled_for = DateTimeFormField(label=_("预约/入院时间"), widget=DateTimeInput())
    note = forms.CharField(label=_("说明"), widget=_text(2), required=False, max_length=2000)

    def __init__(self, *args, directions=(), **kwargs):
        super().__init__(*args, **kwargs)
        if directions and not self.is_bound:
            self.initial.setdefault("direction", directions[0])


class ReferralFilterForm(PortalForm):
    direction = forms.ChoiceField(label=_("方向"), required=False, choices=[("", _("全部"))] + list(ReferralDirection.choices))
    state = forms.ChoiceField(label=_("状态"), required=False, choices=[("", _("全部"))] + list(ReferralState.choices))


class RatingForm(PortalForm):
    """JL-O5 (art. 46.3): satisfaction of the inviting physician or of the patient."""

    rater_kind = forms.ChoiceField(label=_("评价人"), choices=RaterKind.choices)
    score = forms.TypedChoiceField(
        label=_("满意度"),
        coerce=int,
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
        help_text=_("5 分最满意，1 分最不满意"),
    )
    comment = forms.CharField(label=_("评价"), widget=_text(2), required=False)

    def __init__(self, *args, rater_kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if rater_kinds is not None:
            self.fields["rater_kind"].choices = [c for c in RaterKind.choices if c[0] in rater_kinds]


# --- JL-C2: the 24-hour obligations ---------------------------------------------------------


class ExpertConsultFailedForm(PortalForm):
    """Art. 22 (2): a critical or difficult case still undiagnosed after an expert consultation."""

    event_at = DateTimeFormField(label=_("院内外专家会诊结束时间"), widget=DateTimeInput())
    notes = forms.CharField(
        label=_("会诊情况"), widget=_text(3), help_text=_("会诊专家、结论及仍未明确诊断或治疗困难的情况")
    )
    admission = forms.ModelChoiceField(
        label=_("关联住院"), queryset=None, required=False, empty_label=_("不关联")
    )

    def __init__(self, *args, admissions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["admission"].queryset = admissions
        self.fields["admission"].label_from_instance = _admission_label

    def clean(self):
        cleaned = super().clean()
        if "notes" in cleaned:
            cleaned["details"] = {"notes": cleaned.pop("notes").strip()}
        return cleaned


class PatientRequestForm(PortalForm):
    """Art. 22 (3): the patient or the family asks for a remote consultation."""

    event_at = DateTimeFormField(label=_("提出时间"), widget=DateTimeInput())
    requested_by = forms.CharField(
        label=_("提出人"), max_length=100, help_text=_("患者本人，或家属姓名及与患者关系")
    )

    def clean(self):
        cleaned = super().clean()
        if "requested_by" in cleaned:
            cleaned["details"] = {"requested_by": cleaned.pop("requested_by").strip()}
        return cleaned


class WithdrawForm(PortalForm):
    reason = forms.CharField(
        label=_("撤销原因"),
        widget=_text(2),
        required=False,
        help_text=_("如患者已出院、转院或死亡；监管部门可见"),
    )


class AdmissionForm(PortalForm):
    """Art. 22 (1) runs from the admission time until a diagnosis is confirmed."""

    inpatient_number = forms.CharField(label=_("住院号"), max_length=40)
    ward = forms.CharField(label=_("科室/病区"), max_length=50, required=False)
    admitted_at = DateTimeFormField(label=_("入院时间"), widget=DateTimeInput())


class DiagnosisForm(PortalForm):
    diagnosis = forms.CharField(label=_("明确诊断"), max_length=200)
    confirmed_at = DateTimeFormField(label=_("明确诊断时间"), widget=DateTimeInput())
