"""Every upload of the portal goes through the JL-C5 content check (telemed.files; issue 8).

One case per stored file field: a Windows program renamed ``.pdf`` is refused with nothing stored,
and an accepted file keeps a name without a right-to-left override. ``test_every_file_field_is_covered``
fails when a new FileField appears without a case here.
"""

import datetime as dt

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from billing import services as billing_services
from billing.models import AllocationPolicy
from consultations import services
from consultations.models import Consent, Document
from facilities import services as facility_services
from facilities.choices import AccreditationCondition, StaffRole
from facilities.models import AccreditationApplication, AccreditationItem, CooperationAgreement, ServiceType
from telemed.errors import ApplicationError
from tests.factories import FacilityFactory, division, pdf, staff
from tests.telemed.test_files import HTML, MZ, SVG, upload

RLO_NAME = "知情同意书\u202efdp.exe\u200b.pdf"


def consent(world, signed_copy):
    consultation = world.draft()
    return services.consent_record(actor=world.clinician, consultation=consultation, signer_name="李四", relation="spouse",
                                   signed_at=timezone.now() - dt.timedelta(minutes=5), sensitive_info_consent=True,
                                   signed_copy=signed_copy)


def document(world, file):
    return services.document_upload(actor=world.clinician, consultation=world.draft(), kind="medical_record", title="", upload=file)


def agreement(world, signed_copy):
    county = FacilityFactory(level=2, division=division("220122"))
    return facility_services.agreement_register(
        actor=staff(county, StaffRole.FACILITY_ADMIN), number="JL-2026-009", inviting=county, invited=world.invited,
        service_types=ServiceType.objects.filter(code="consultation"), valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + dt.timedelta(days=365), purpose="目的", conditions="条件", process="流程",
        rights_obligations="权利义务", liability_sharing="责任分担", inviting_fee_share=2, invited_fee_share=8, signed_copy=signed_copy,
    )


def accreditation(world, evidence):
    facility = FacilityFactory(level=2, division=division("220122"))
    conditions = list(AccreditationCondition)
    items = [
        facility_services.AccreditationItemInput(condition=c, statement="情况说明", evidence=evidence if i == len(conditions) - 1 else pdf())
        for i, c in enumerate(conditions)
    ]
    return facility_services.accreditation_apply(actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=items)


def allocation(world, document_file):
    return billing_services.allocation_policy_adopt(
        actor=staff(world.invited, StaffRole.FINANCE), facility=world.invited, staff_share_basis_points=6500,
        valid_from=timezone.localdate(), description="按工作量分配", document=document_file,
    )


# (model label, field) → (service call, stored rows, the stored FieldFile of the result)
CASES = {
    ("consultations.consent", "signed_copy"): (consent, Consent, lambda c: c.signed_copy),
    ("consultations.document", "file"): (document, Document, lambda d: d.file),
    ("facilities.cooperationagreement", "signed_copy"): (agreement, CooperationAgreement, lambda a: a.signed_copy),
    ("facilities.accreditationitem", "evidence"): (accreditation, AccreditationApplication, lambda a: a.items.last().evidence),
    ("billing.allocationpolicy", "document"): (allocation, AllocationPolicy, lambda p: p.document),
}


# File fields no upload writes: they refer to a file another field's upload checked.
NOT_UPLOADS = {
    ("consultations.consentversion", "signed_copy"): "a kept consent version keeps the consent's checked file (JL-C3)",
}


def test_every_file_field_is_covered():
    fields = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models() for field in model._meta.get_fields() if isinstance(field, models.FileField)
    }
    assert fields - set(NOT_UPLOADS) == set(CASES)


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}.{k[1]}")
@pytest.mark.parametrize("content", [MZ, SVG, HTML], ids=["mz-renamed-pdf", "svg-script", "html-script"])
def test_jl_c5_every_upload_refuses_a_program_or_script_and_stores_nothing(world, key, content):
    write, model, _stored = CASES[key]
    before = model.objects.count()
    with pytest.raises(ApplicationError) as refused:
        write(world, upload("signed.pdf", content))
    assert refused.value.code in ("file_type_refused", "JL-C5")
    assert "JL-C5 第二十九条" in refused.value.message
    assert model.objects.count() == before
    assert not AccreditationItem.objects.exists()


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_jl_c5_every_upload_stores_a_name_without_direction_override(world, key):
    write, _model, stored = CASES[key]
    result = write(world, upload(RLO_NAME, b"%PDF-1.4 signed\n"))
    name = stored(result).name
    assert "\u202e" not in name and "\u200b" not in name
    assert name.rsplit("/", 1)[-1].startswith("知情同意书fdp.exe")


def test_jl_c5_a_document_keeps_a_clean_original_name_and_title(world):
    doc = document(world, upload(RLO_NAME, b"%PDF-1.4 signed\n"))
    assert doc.original_name == "知情同意书fdp.exe.pdf" and doc.title == "知情同意书fdp.exe.pdf"
