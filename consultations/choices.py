from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    """GB/T 2261.1."""

    MALE = "1", _("男")
    FEMALE = "2", _("女")
    UNKNOWN = "0", _("未知")


class ConsultationState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SENT = "sent", _("已发送")
    ACCEPTED = "accepted", _("已受理")
    DECLINED = "declined", _("已拒绝")
    RETURNED = "returned", _("资料退回补充")
    SCHEDULED = "scheduled", _("已排期")
    IN_SESSION = "in_session", _("会诊进行中")
    SIGNED = "signed", _("意见/报告已签发")
    CLOSED = "closed", _("已结束")
    CANCELLED = "cancelled", _("已取消")


OPEN_STATES = (
    ConsultationState.DRAFT,
    ConsultationState.SENT,
    ConsultationState.ACCEPTED,
    ConsultationState.RETURNED,
    ConsultationState.SCHEDULED,
    ConsultationState.IN_SESSION,
)


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("普通")
    URGENT = "urgent", _("加急")
    EMERGENCY = "emergency", _("急诊")


class Side(models.TextChoices):
    INVITING = "inviting", _("邀请方")
    INVITED = "invited", _("受邀方")


class TriggerKind(models.TextChoices):
    """JL-C2 (art. 22): the three situations that start the 24-hour upload obligation."""

    UNDIAGNOSED = "undiagnosed", _("（一）入院超3日未明确诊断")
    EXPERT_CONSULT_FAILED = "expert_consult_failed", _("（二）危急重疑难病症经院内外专家会诊仍不能明确诊断或治疗有困难")
    PATIENT_REQUEST = "patient_request", _("（三）患方提出远程会诊要求")


class ObligationState(models.TextChoices):
    OPEN = "open", _("待上传")
    MET = "met", _("已按时上传")
    VIOLATED = "violated", _("已超时")
    WITHDRAWN = "withdrawn", _("已撤销")


class DocumentKind(models.TextChoices):
    CONDITION_SUMMARY = "condition_summary", _("病情摘要")
    MEDICAL_RECORD = "medical_record", _("病历资料")
    TEST_REPORT = "test_report", _("检验检查报告")
    IMAGING = "imaging", _("医学影像（含DICOM）")
    ECG = "ecg", _("心电图")
    PATHOLOGY = "pathology", _("病理图像")
    CONSENT = "consent", _("知情同意书")
    OTHER = "other", _("其他")


# JL-C2: "患者病情及病历资料、检验报告等" — what must have reached the invited side.
REQUIRED_MATERIAL = (DocumentKind.CONDITION_SUMMARY, DocumentKind.MEDICAL_RECORD, DocumentKind.TEST_REPORT)


class ConsentRelation(models.TextChoices):
    SELF = "self", _("本人")
    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    GUARDIAN = "guardian", _("监护人")
    OTHER_RELATIVE = "other_relative", _("其他近亲属")
    AGENT = "agent", _("委托代理人")


class OpinionKind(models.TextChoices):
    OPINION = "opinion", _("会诊意见")
    REPORT = "report", _("诊断报告")


class RaterKind(models.TextChoices):
    CLINICIAN = "clinician", _("邀请方医师")
    PATIENT = "patient", _("患者或家属")


# --- JL-C10 (art. 9): two-way referral --------------------------------------------------------


class ReferralDirection(models.TextChoices):
    UP = "up", _("上转（绿色通道）")
    DOWN = "down", _("下转（康复或随访）")


class ReferralKind(models.TextChoices):
    APPOINTMENT = "appointment", _("预约号源")
    BED = "bed", _("预留床位")


class ReferralState(models.TextChoices):
    OFFERED = "offered", _("已提供，待确认")
    CONFIRMED = "confirmed", _("已确认，待转出")
    TRANSFERRED = "transferred", _("已转诊")
    DECLINED = "declined", _("已谢绝")
    CANCELLED = "cancelled", _("已取消")


OPEN_REFERRAL_STATES = (ReferralState.OFFERED, ReferralState.CONFIRMED)


class ReferralParty(models.TextChoices):
    """Who acts on a referral step: the facility that receives the patient offers the place; the
    facility the patient leaves confirms and records the transfer."""

    RECEIVING = "receiving", _("接收方")
    SENDING = "sending", _("转出方")
