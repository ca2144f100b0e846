"""JL-C8 in Chromium: the provincial regulator seals a disputed case, reads it after stating a purpose,
finds it read-only, and unseals it with both parties present again.

The demo network has no consultations, so the case is made here through ``consultations.services``
by the demo people of 农安县人民医院 and 吉林大学第一医院 (facilities/demo_data.py).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent, Seal
from consultations import services
from facilities.choices import Title
from facilities.models import Facility, ServiceType
from tests.factories import pdf

pytestmark = [pytest.mark.e2e]

PARTIES = {
    "邀请方在场人姓名": "高若溪",
    "邀请方在场人身份": "农安县人民医院医务科科长",
    "受邀方（或患方）在场人姓名": "赵建国",
    "受邀方（或患方）在场人身份": "患者之子",
}


def accepted_case():
    """A remote consultation from 农安县人民医院 accepted by 吉林大学第一医院, with its expert assigned."""
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=["clinician_nongan", "coordinator_nongan", "coordinator_jdyy", "expert_jdyy"])}
    nongan, jdyy = Facility.objects.get(name="农安县人民医院"), Facility.objects.get(name="吉林大学第一医院")
    clinician = users["clinician_nongan"]
    patient = services.patient_register(actor=clinician, facility=nongan, name="赵明远", sex="1", birth_date=dt.date(1958, 3, 2),
                                        id_number="220122195803021234", phone="13904311234")
    consultation = services.consultation_create(
        actor=clinician, inviting=nongan, invited=jdyy, service_type=ServiceType.objects.get(code="consultation"),
        patient=patient, reason="入院4天发热原因不明", purpose="明确诊断，指导治疗", case_summary="发热待查，胸腔积液",
        wanted_scope="internal", wanted_title=Title.ASSOCIATE_CHIEF_PHYSICIAN, modality="",
    )
    services.consent_record(actor=clinician, consultation=consultation, signer_name="赵建国", relation="child",
                            signed_at=timezone.now() - dt.timedelta(minutes=10), sensitive_info_consent=True, signed_copy=pdf("consent.pdf"))
    services.participant_add_inviting(actor=clinician, consultation=consultation, physician=clinician.physician)
    for kind in ("condition_summary", "medical_record", "test_report"):
        services.document_upload(actor=clinician, consultation=consultation, kind=kind, title=kind, upload=pdf(f"{kind}.pdf"))
    services.consultation_send(actor=users["coordinator_nongan"], consultation=consultation)
    services.consultation_accept(actor=users["coordinator_jdyy"], consultation=consultation)
    services.expert_assign(actor=users["coordinator_jdyy"], consultation=consultation, physician=users["expert_jdyy"].physician)
    return consultation


def fill_parties(page: Page, reason: str) -> None:
    page.get_by_label(re.compile("原因")).fill(reason)
    for label, value in PARTIES.items():
        page.get_by_label(label, exact=True).fill(value)


def test_jl_c8_regulator_seals_reads_with_a_purpose_and_unseals(page: Page, login, shot):
    case = accepted_case()
    login(page, "reg_province")

    page.goto(f"/consultations/{case.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.number)
    expect(page.get_by_text("该病历已封存")).to_have_count(0)
    shot(page, "01-case-before")

    # Seal: a reason and both parties; a missing party is refused on the form, keeping the input.
    page.goto(f"/records/consultations/{case.pk}/seal/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"封存病历 {case.number}")
    page.get_by_label(re.compile("原因")).fill("患方对会诊意见有异议，申请封存")
    page.get_by_role("button", name="封存").click()
    expect(page.locator(".alert-error")).to_contain_text("JL-C8 第三十七条: 须记录双方在场人的姓名和身份。")
    expect(page.get_by_label(re.compile("原因"))).to_have_value("患方对会诊意见有异议，申请封存")
    shot(page, "02-seal-refused")
    fill_parties(page, "患方对会诊意见有异议，申请封存")
    page.get_by_role("button", name="封存").click()
    seal = Seal.objects.get(consultation=case)
    expect(page).to_have_url(re.compile(rf"/records/seals/{seal.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("封存中")
    expect(page.locator("[data-verify=intact]")).to_contain_text("一致")
    expect(page.get_by_text(seal.snapshot_sha256).first).to_be_visible()
    expect(page.get_by_text("高若溪（农安县人民医院医务科科长）")).to_be_visible()
    shot(page, "03-sealed")

    # Reading the sealed record asks for a purpose first; the purpose goes to the access log.
    page.locator("#main").get_by_role("link", name="责任认定").click()
    expect(page).to_have_url(re.compile(rf"/records/consultations/{case.pk}/sealed-access/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("调阅封存病历")
    shot(page, "04-purpose-asked")
    page.get_by_label("调阅目的").fill("省卫健委医疗纠纷调查")
    page.get_by_role("button", name="记录目的并查看").click()
    expect(page).to_have_url(re.compile(rf"/records/consultations/{case.pk}/responsibility/$"))
    expect(page.get_by_role("heading", level=2, name=re.compile("受理时责任认定"))).to_be_visible()
    shot(page, "05-responsibility-after-purpose")
    view = AuditEvent.objects.filter(event_type="record.view", details__purpose="省卫健委医疗纠纷调查").get()
    assert view.details["sealed"] is True and view.acting_division_code == "220000" and view.channel == "web"

    # The case page: read-only while sealed, no action forms for anyone.
    page.get_by_role("link", name="返回申请").click()
    expect(page).to_have_url(re.compile(rf"/consultations/{case.pk}/$"))
    expect(page.get_by_text("该病历已封存，封存期间只读")).to_be_visible()
    expect(page.locator("form.action-form")).to_have_count(0)
    shot(page, "06-case-read-only")

    # Unseal: both parties again; the comparison with the snapshot is shown.
    page.goto("/records/seals/")
    page.get_by_role("link", name=case.number).click()
    page.get_by_role("link", name="启封").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"启封病历 {case.number}")
    fill_parties(page, "经调解双方达成一致，申请启封")
    page.get_by_role("button", name="启封").click()
    expect(page).to_have_url(re.compile(rf"/records/seals/{seal.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("已启封")
    expect(page.get_by_text("经调解双方达成一致，申请启封")).to_be_visible()
    expect(page.locator("[data-verify=intact]")).to_be_visible()
    shot(page, "07-unsealed")

    page.goto(f"/consultations/{case.pk}/")
    expect(page.get_by_text("该病历已封存，封存期间只读")).to_have_count(0)
    shot(page, "08-case-after")
    assert list(AuditEvent.objects.filter(event_type__in=["record.seal", "record.unseal"]).order_by("sequence")
                .values_list("event_type", flat=True)) == ["record.seal", "record.unseal"]
