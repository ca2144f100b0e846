"""Patients, admissions and diagnoses — pushed by partner systems or recorded by staff (JL-C2 (1))."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append
from facilities.choices import StaffRole
from facilities.models import Facility
from telemed import crypto
from telemed.errors import ApplicationError
from telemed.scope import Scope

from .. import rules
from ..models import Admission, Patient
from ._common import deny

CLINICAL_ROLES = (StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM)


def require_clinical_role(actor, facility_id: int) -> None:
    scope = Scope.of(actor)
    if not scope.has_role(facility_id, *CLINICAL_ROLES):
        raise deny(_("只有本机构的临床医师、远程医疗管理人员或对接系统可以记录患者信息。"))


@transaction.atomic
def patient_register(
    *,
    actor,
    facility: Facility,
    name: str,
    sex: str,
    birth_date: date,
    id_number: str = "",
    phone: str = "",
    medical_record_number: str = "",
    external_id: str = "",
) -> Patient:
    """Create the patient, or return the one the partner system already pushed under ``external_id``."""
    require_clinical_role(actor, facility.pk)
    if not name.strip():
        raise ApplicationError("invalid", _("请填写患者姓名。"))
    if birth_date > timezone.localdate():
        raise ApplicationError("invalid", _("出生日期不能晚于今天。"))
    if external_id:
        existing = Patient.objects.filter(facility=facility, external_id=external_id).first()
        if existing:
            return existing
    patient = Patient.objects.create(
        facility=facility,
        name=name.strip(),
        sex=sex,
        birth_date=birth_date,
        id_number=id_number.strip().upper(),
        id_last4=rules.number_suffix(id_number),
        phone=phone.strip(),
        medical_record_number=medical_record_number.strip(),
        external_id=external_id,
    )
    audit_event_append(
        actor=actor, event_type=EventType.PATIENT_REGISTER, obj=patient, acting_facility_id=facility.pk, facility_ids=[facility.pk]
    )
    return patient


@transaction.atomic
def admission_record(
    *, actor, patient: Patient, inpatient_number: str, admitted_at: datetime, ward: str = "", external_id: str = ""
) -> Admission:
    """An inpatient admission; the obligation sweep watches it for art. 22 (1)."""
    require_clinical_role(actor, patient.facility_id)
    if admitted_at > timezone.now():
        raise ApplicationError("invalid", _("入院时间不能晚于当前时间。"))
    existing = Admission.objects.filter(facility_id=patient.facility_id, inpatient_number=inpatient_number.strip()).first()
    if existing:
        if existing.patient_id != patient.pk:
            raise ApplicationError("duplicate", _("住院号 %(n)s 已属于另一名患者。") % {"n": inpatient_number})
        return existing  # a partner system re-pushing the same admission changes nothing
    admission = Admission.objects.create(
        facility_id=patient.facility_id,
        patient=patient,
        inpatient_number=inpatient_number.strip(),
        ward=ward.strip(),
        admitted_at=admitted_at,
        external_id=external_id,
    )
    audit_event_append(
        actor=actor,
        event_type=EventType.ADMISSION_RECORD,
        obj=admission,
        acting_facility_id=patient.facility_id,
        facility_ids=[patient.facility_id],
        details={"admitted_at": admitted_at},
    )
    return admission


@transaction.atomic
def admission_confirm_diagnosis(*, actor, admission: Admission, diagnosis: str, confirmed_at: datetime) -> Admission:
    """A confirmed diagnosis stops art. 22 (1) from arising; an obligation already open stays open."""
    require_clinical_role(actor, admission.facility_id)
    if not diagnosis.strip():
        raise ApplicationError("invalid", _("请填写明确诊断。"))
    if confirmed_at < admission.admitted_at or confirmed_at > timezone.now():
        raise ApplicationError("invalid", _("明确诊断时间须在入院时间之后、当前时间之前。"))
    admission.diagnosis = diagnosis.strip()
    admission.diagnosis_confirmed_at = confirmed_at
    admission.save(update_fields=["diagnosis", "diagnosis_confirmed_at"])
    audit_event_append(
        actor=actor,
        event_type=EventType.ADMISSION_DIAGNOSIS,
        obj=admission,
        acting_facility_id=admission.facility_id,
        facility_ids=[admission.facility_id],
        details={"confirmed_at": confirmed_at},
    )
    return admission


@transaction.atomic
def admission_discharge(*, actor, admission: Admission, discharged_at: datetime) -> Admission:
    require_clinical_role(actor, admission.facility_id)
    if discharged_at < admission.admitted_at:
        raise ApplicationError("invalid", _("出院时间不能早于入院时间。"))
    admission.discharged_at = discharged_at
    admission.save(update_fields=["discharged_at"])
    audit_event_append(
        actor=actor, event_type=EventType.ADMISSION_DISCHARGE, obj=admission, acting_facility_id=admission.facility_id,
        facility_ids=[admission.facility_id],
    )
    return admission


@dataclass(frozen=True)
class RotationBatch:
    key_id: str
    rows: int
    remaining: int


def patient_data_key_rotate_batch(*, actor=None, batch_size: int = 500) -> RotationBatch:
    """JL-A2 (GB/T 22239-2019 8.1.4.8): re-encrypt up to ``batch_size`` patients whose identity or phone
    number is still under an old data key or cipher, under the current one, with their blind indexes.

    One transaction and one audit event per batch, so an interrupted run keeps what it finished and the
    next run simply continues with the rows still on an old key (``manage.py rotate_data_key``).
    """
    with transaction.atomic():
        rows = list(Patient.objects.on_old_data_key().select_for_update().order_by("pk")[:batch_size])
        for patient in rows:
            # Read under the old key (the field decrypts), written under the current one.
            patient.save(update_fields=["id_number", "phone", "id_number_index", "phone_index"])
        keys, cipher = crypto.current()
        key_id = keys[0].id
        remaining = Patient.objects.on_old_data_key().count()
        if rows:
            audit_event_append(
                actor=actor, event_type=EventType.DATA_KEY_ROTATE, object_type="consultations.patient",
                details={"key_id": key_id, "cipher": cipher, "rows": len(rows),
                         "first_id": rows[0].pk, "last_id": rows[-1].pk, "remaining": remaining},
            )
    return RotationBatch(key_id=key_id, rows=len(rows), remaining=remaining)
