"""Every write of the consultations app (STYLE 2), split by sub-domain."""

from ._common import notifications_mark_read
from .obligations import SweepReport, obligation_open, obligation_sweep, obligation_withdraw, obligations_meet
from .opinions import opinion_sign, rating_record, responsibility_record
from .patients import (
    admission_confirm_diagnosis,
    admission_discharge,
    admission_record,
    patient_data_key_rotate_batch,
    patient_register,
)
from .referrals import referral_cancel, referral_confirm, referral_decline, referral_offer, referral_transfer
from .reports import service_type_report_template_set
from .requests import (
    consent_record,
    consultation_accept,
    consultation_cancel,
    consultation_close,
    consultation_create,
    consultation_decline,
    consultation_return_material,
    consultation_schedule,
    consultation_send,
    consultation_start_session,
    document_upload,
    duty_covered,
    expert_assign,
    facility_checks,
    participant_add_inviting,
)
from .responses import response_reminder_sweep

__all__ = [
    "SweepReport",
    "admission_confirm_diagnosis",
    "admission_discharge",
    "admission_record",
    "consent_record",
    "consultation_accept",
    "consultation_cancel",
    "consultation_close",
    "consultation_create",
    "consultation_decline",
    "consultation_return_material",
    "consultation_schedule",
    "consultation_send",
    "consultation_start_session",
    "document_upload",
    "duty_covered",
    "expert_assign",
    "facility_checks",
    "notifications_mark_read",
    "obligation_open",
    "obligation_sweep",
    "obligation_withdraw",
    "obligations_meet",
    "opinion_sign",
    "participant_add_inviting",
    "patient_data_key_rotate_batch",
    "patient_register",
    "rating_record",
    "referral_cancel",
    "referral_confirm",
    "referral_decline",
    "referral_offer",
    "referral_transfer",
    "response_reminder_sweep",
    "responsibility_record",
    "service_type_report_template_set",
]
