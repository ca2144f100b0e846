"""The consultations partner API (/api/v1/): the whole path of a request, rule refusals, scoping,
roles, masking (JL-C9) and query counts."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from consultations import services
from consultations.choices import ConsultationState, ObligationState
from consultations.models import Consent, Document, Obligation
from facilities import services as facility_services
from facilities.choices import StaffRole, SuspensionCause
from tests.api_cases import (
    Access,
    Call,
    EndpointAccessCases,
    assert_error,
    assert_list_queries_constant,
    audit_count,
    audit_write_queries,
    rows,
    token_client,
)
from tests.factories import FacilityFactory, RegistrationFactory, login_request, pdf, staff

API = "/api/v1"
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory


def session_client(user) -> APIClient:
    """A member of staff signed in to the portal (session authentication)."""
    client = APIClient()
    assert client.login(request=login_request(), username=user.username, password=PASSWORD)
    return client


def assert_audited(event_type: str, actor, *, before: int, count: int = 1) -> AuditEvent:
    """``count`` new events of ``event_type``, the last one by ``actor`` through the API."""
    assert audit_count(event_type) == before + count, event_type
    event = AuditEvent.objects.filter(event_type=event_type).order_by("-sequence").first()
    assert event.actor_id == actor.pk
    assert event.channel == "api"
    assert event.outcome == "success"
    return event


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def executable(name: str = "setup.exe") -> SimpleUploadedFile:
    """A Windows PE header: no allowed type starts like this (JL-C5)."""
    return SimpleUploadedFile(name, b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200)


def url(consultation, action: str = "") -> str:
    return f"{API}/consultations/{consultation.pk}/" + (f"{action}/" if action else "")


def in_session(world):
    consultation = world.accepted_with_expert()
    services.consultation_schedule(
        actor=world.invited_coordinator, consultation=consultation,
        scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link="https://meet.example.cn/r/1",
    )
    return services.consultation_start_session(actor=world.invited_coordinator, consultation=consultation)


def signed(world):
    consultation = in_session(world)
    services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎，建议胸水检查。")
    return consultation


@pytest.fixture
def inviting_partner(world):
    """The inviting hospital's HIS: a partner_system user with a token."""
    return staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_nongan")


@pytest.fixture
def outsider(db):
    """The partner system of a hospital with no part in the case."""
    return staff(FacilityFactory(name="白城市中心医院"), StaffRole.PARTNER_SYSTEM, username="his_baicheng")


# --- The whole path, through the API ---------------------------------------------------------------


def test_jl_c2_c3_c5_c6_c7_o5_request_from_patient_to_rating(world, inviting_partner):
    """A partner system pushes the patient, admission and request with consent, attending physician
    and the three kinds of material (JL-C2, JL-C3, JL-C5); the invited coordinator accepts, assigns,
    schedules and starts; the expert signs (JL-C6); the inviting side closes and rates (JL-O5)."""
    his = token_client(inviting_partner)

    # Patient (idempotent on external_id) and admission.
    before = audit_count("patient.register")
    patient_form = {
        "name": "王五", "sex": "1", "birth_date": "1958-03-02", "id_number": "220122195803021234",
        "phone": "13912345678", "medical_record_number": "MZ-0001", "external_id": "HIS-P-0001",
    }
    response = his.post(f"{API}/patients/", patient_form, format="json")
    assert response.status_code == 201, response.data
    patient = response.json()
    assert patient["facility"] == world.inviting.pk
    assert patient["id_number"] == "220***********1234"
    assert_audited("patient.register", inviting_partner, before=before)
    again = his.post(f"{API}/patients/", patient_form, format="json")
    assert again.status_code == 200 and again.json()["id"] == patient["id"]
    assert audit_count("patient.register") == before + 1

    before = audit_count("admission.record")
    admitted_at = timezone.now() - dt.timedelta(days=4)
    response = his.post(
        f"{API}/admissions/",
        {"patient": patient["id"], "inpatient_number": "ZY-2026-0001", "ward": "呼吸内科", "admitted_at": iso(admitted_at)},
        format="json",
    )
    assert response.status_code == 201, response.data
    admission = response.json()
    assert admission["patient_name"] == "王五" and admission["diagnosis_confirmed_at"] is None
    assert_audited("admission.record", inviting_partner, before=before)

    # The family asks for a remote consultation: JL-C2 (3), due in 24 hours.
    requested_at = timezone.now() - dt.timedelta(hours=1)
    response = his.post(
        f"{API}/obligations/",
        {"trigger": "patient_request", "patient": patient["id"], "event_at": iso(requested_at), "details": {"by": "配偶"}},
        format="json",
    )
    assert response.status_code == 201, response.data
    obligation = response.json()
    assert obligation["state"] == ObligationState.OPEN

    # The draft.
    before = audit_count("consultation.create")
    response = his.post(
        f"{API}/consultations/",
        {
            "patient": patient["id"], "admission": admission["id"], "invited": world.invited.pk, "service_type": "consultation",
            "reason": "入院4天发热原因不明", "purpose": "明确诊断", "case_summary": "发热伴胸腔积液", "wanted_scope": "internal",
            "urgency": "urgent",
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    draft = response.json()
    assert draft["state"] == ConsultationState.DRAFT
    assert draft["inviting"] == {"id": world.inviting.pk, "name": world.inviting.name}
    assert {a["action"] for a in draft["allowed_actions"]} == {"send", "cancel"}
    assert_audited("consultation.create", inviting_partner, before=before)
    case = f"{API}/consultations/{draft['id']}/"

    # JL-C3: consent with the signed copy (multipart), and the attending physician.
    before = audit_count("consultation.consent")
    consent_pdf = b"%PDF-1.4 signed consent\n"
    response = his.post(
        f"{case}consent/",
        {
            "signer_name": "李四", "relation": "spouse", "signed_at": iso(timezone.now() - dt.timedelta(minutes=10)),
            "sensitive_info_consent": "true", "signed_copy": pdf("consent.pdf", consent_pdf),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert response.json()["signed_copy_sha256"] == hashlib.sha256(consent_pdf).hexdigest()
    assert response.json()["sensitive_info_consent"] is True
    assert_audited("consultation.consent", inviting_partner, before=before)

    before = audit_count("consultation.participant.add")
    response = his.post(f"{case}participants/", {"physician": world.attending.pk}, format="json")
    assert response.status_code == 201, response.data
    assert response.json()["side"] == "inviting" and response.json()["physician"] == world.attending.pk
    assert_audited("consultation.participant.add", inviting_partner, before=before)

    # JL-C5: three PDFs, each with its fingerprint; no file URL, a download endpoint instead.
    before = audit_count("document.upload")
    for kind in ("condition_summary", "medical_record", "test_report"):
        content = f"%PDF-1.4 {kind}\n".encode()
        response = his.post(
            f"{case}documents/", {"kind": kind, "title": kind, "file": pdf(f"{kind}.pdf", content)}, format="multipart"
        )
        assert response.status_code == 201, response.data
        document = response.json()
        assert document["sha256"] == hashlib.sha256(content).hexdigest()
        assert document["size"] == len(content) and document["content_type"] == "application/pdf"
        assert document["download_url"].endswith(f"{case}documents/{document['id']}/download/")
        assert "/media/" not in str(document)
    assert_audited("document.upload", inviting_partner, before=before, count=3)

    # Send: the request reaches the invited facility and meets the JL-C2 obligation in time.
    before = audit_count("consultation.send")
    response = his.post(f"{case}send/")
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ConsultationState.SENT
    assert_audited("consultation.send", inviting_partner, before=before)
    met = his.get(f"{API}/obligations/{obligation['id']}/").json()
    assert met["state"] == ObligationState.MET and met["consultation"] == draft["id"]
    assert met["seconds_remaining"] is None

    # The invited coordinator, signed in to the portal: accept (JL-C7 recorded), assign, schedule, start.
    coordinator = session_client(world.invited_coordinator)
    detail = coordinator.get(case).json()
    assert {a["action"] for a in detail["allowed_actions"]} == {"accept", "decline", "return"}

    before = audit_count("consultation.accept")
    response = coordinator.post(f"{case}accept/")
    assert response.status_code == 200, response.data
    accepted = response.json()
    assert accepted["state"] == ConsultationState.ACCEPTED
    assert [r["occasion"] for r in accepted["responsibilities"]] == ["accepted"]
    assert accepted["responsibilities"][0]["article"] == "JL-C7 第二十八条"
    assert_audited("consultation.accept", world.invited_coordinator, before=before)

    before = audit_count("consultation.expert.assign")
    response = coordinator.post(f"{case}assign/", {"physician": world.expert_physician.pk}, format="json")
    assert response.status_code == 201, response.data
    assert response.json()["side"] == "invited"
    assert_audited("consultation.expert.assign", world.invited_coordinator, before=before)

    before = audit_count("consultation.schedule")
    scheduled_for = timezone.now() + dt.timedelta(hours=3)
    response = coordinator.post(
        f"{case}schedule/", {"scheduled_for": iso(scheduled_for), "video_link": "https://meet.example.cn/r/42"}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ConsultationState.SCHEDULED
    assert response.json()["video_link"] == "https://meet.example.cn/r/42"
    assert_audited("consultation.schedule", world.invited_coordinator, before=before)

    before = audit_count("consultation.start_session")
    response = coordinator.post(f"{case}start/")
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ConsultationState.IN_SESSION
    assert_audited("consultation.start_session", world.invited_coordinator, before=before)

    # The assigned expert signs (JL-C6).
    expert = session_client(world.expert)
    assert [a["action"] for a in expert.get(case).json()["allowed_actions"]] == ["sign"]
    before = audit_count("opinion.sign")
    response = expert.post(f"{case}sign/", {"content": "考虑结核性胸膜炎，建议胸水检查。"}, format="json")
    assert response.status_code == 201, response.data
    opinion = response.json()
    assert opinion["version"] == 1 and opinion["kind"] == "opinion" and opinion["supersedes"] is None
    assert len(opinion["content_sha256"]) == 64
    assert opinion["signed_by"] == world.expert_physician.pk
    assert_audited("opinion.sign", world.expert, before=before)

    # The inviting side closes and rates (JL-O5).
    before = audit_count("consultation.close")
    response = his.post(f"{case}close/")
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ConsultationState.CLOSED
    assert_audited("consultation.close", inviting_partner, before=before)

    before = audit_count("consultation.rate")
    response = his.post(f"{case}rate/", {"rater_kind": "clinician", "score": 5, "comment": "意见明确"}, format="json")
    assert response.status_code == 201, response.data
    assert response.json()["score"] == 5
    assert_audited("consultation.rate", inviting_partner, before=before)

    final = his.get(case).json()
    assert final["state"] == ConsultationState.CLOSED
    assert [o["version"] for o in final["opinions"]] == [1]
    assert [r["rater_kind"] for r in final["ratings"]] == ["clinician"]
    assert [r["occasion"] for r in final["responsibilities"]] == ["accepted", "signed"]
    assert {d["kind"] for d in final["documents"]} == {"condition_summary", "medical_record", "test_report"}
    assert final["consent"]["relation"] == "spouse"
    assert final["allowed_actions"] == []


# --- Rule refusals --------------------------------------------------------------------------------


def test_jl_c3_send_without_consent_lists_every_missing_item(world, inviting_partner):
    """JL-C3 (art. 20, 21, 23; PIPL art. 29): consent, its evidence, the separate sensitive-information
    consent and an inviting physician — all four reported at once."""
    consultation = world.draft()
    before = audit_count("consultation.send")
    body = assert_error(token_client(inviting_partner).post(url(consultation, "send")), 400, "JL-C3")
    reasons = body["extra"]["reasons"]
    assert [r["rule"] for r in reasons] == ["JL-C3"] * 4
    assert not any(r["passed"] for r in reasons)
    labels = " ".join(r["label"] for r in reasons)
    for item in ("知情同意书", "签署件或电子签名", "敏感个人信息", "邀请方执业医师"):
        assert item in labels
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.DRAFT
    assert audit_count("consultation.send") == before


def test_jl_c3_consent_needs_a_signed_copy_or_an_e_signature(world, inviting_partner):
    consultation = world.draft()
    form = {"signer_name": "李四", "relation": "spouse", "signed_at": iso(timezone.now()), "sensitive_info_consent": "true"}
    assert_error(token_client(inviting_partner).post(url(consultation, "consent"), form, format="multipart"), 400, "JL-C3")
    form["e_signature_reference"] = "CA-2026-000123"
    response = token_client(inviting_partner).post(url(consultation, "consent"), form, format="multipart")
    assert response.status_code == 201, response.data
    assert response.json()["e_signature_reference"] == "CA-2026-000123"


def test_jl_c5_executable_upload_is_refused(world, inviting_partner):
    """JL-C5 (art. 29): the type is read from the file's first bytes, not from its name."""
    consultation = world.draft()
    before = audit_count("document.upload")
    response = token_client(inviting_partner).post(
        url(consultation, "documents"), {"kind": "medical_record", "file": executable("病历.pdf")}, format="multipart"
    )
    body = assert_error(response, 400, "JL-C5")
    assert body["extra"]["reasons"][0]["rule"] == "JL-C5"
    assert not Document.objects.filter(consultation=consultation).exists()
    assert audit_count("document.upload") == before


def test_jl_c5_consent_signed_copy_that_is_a_program_renamed_pdf_is_refused(world, inviting_partner):
    """Issue 8: the consent's signed copy goes through the same content check as case documents."""
    consultation = world.draft()
    before = audit_count("consultation.consent")
    response = token_client(inviting_partner).post(url(consultation, "consent"), {
        "signer_name": "李四", "relation": "spouse", "signed_at": iso(timezone.now() - dt.timedelta(minutes=10)),
        "sensitive_info_consent": "true", "signed_copy": executable("知情同意书.pdf"),
    }, format="multipart")
    body = assert_error(response, 400, "file_type_refused")
    assert body["message"].startswith("JL-C5 第二十九条: 知情同意书签署件的文件类型无法识别或不允许")
    assert audit_count("consultation.consent") == before
    assert not Consent.objects.filter(consultation=consultation).exists()


def test_jl_c3_consent_signed_tomorrow_is_refused_over_the_api(world, inviting_partner):
    """Issue 8: a date that cannot be true is a rule refusal in the error contract."""
    consultation = world.draft()
    response = token_client(inviting_partner).post(url(consultation, "consent"), {
        "signer_name": "李四", "relation": "spouse", "signed_at": iso(timezone.now() + dt.timedelta(days=1)),
        "sensitive_info_consent": True, "e_signature_reference": "CA-2026-1",
    }, format="json")
    body = assert_error(response, 400, "JL-C3")
    assert body["message"].startswith("JL-C3 第二十三条: 知情同意书签署时间不能晚于当前时间")
    assert not Consent.objects.filter(consultation=consultation).exists()


def test_a_javascript_video_link_is_refused_over_the_api(world):
    """Issue 8: the schedule's video link is an http(s) address or a 400 ``video_link_invalid``."""
    consultation = world.accepted_with_expert()
    response = session_client(world.invited_coordinator).post(url(consultation, "schedule"), {
        "scheduled_for": iso(timezone.now() + dt.timedelta(hours=2)), "video_link": "javascript:alert(document.cookie)",
    }, format="json")
    body = assert_error(response, 400, "video_link_invalid")
    assert "https://" in body["message"]
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.ACCEPTED and consultation.video_link == ""


def test_jl_c5_svg_with_script_is_not_a_text_document(world, inviting_partner):
    consultation = world.draft()
    svg = SimpleUploadedFile("ecg.xml", b'<?xml version="1.0"?><svg><script>alert(1)</script></svg>')
    response = token_client(inviting_partner).post(url(consultation, "documents"), {"kind": "medical_record", "file": svg}, format="multipart")
    assert_error(response, 400, "JL-C5")
    assert not Document.objects.filter(consultation=consultation).exists()


def test_jl_c5_empty_file_is_refused_under_the_rule(world, inviting_partner):
    consultation = world.draft()
    empty = SimpleUploadedFile("empty.pdf", b"")
    response = token_client(inviting_partner).post(
        url(consultation, "documents"), {"kind": "test_report", "file": empty}, format="multipart"
    )
    assert_error(response, 400, "JL-C5")


def test_jl_c5_download_streams_an_attachment_to_both_sides_and_is_audited(world, inviting_partner):
    """JL-C5, JL-C8: the file is served only through the API, as an attachment, and each download is logged."""
    consultation = world.sent()
    document = consultation.documents.get(kind="test_report")
    download = f"{url(consultation)}documents/{document.pk}/download/"
    for user in (inviting_partner, world.invited_coordinator):
        before = audit_count("record.download")
        response = token_client(user).get(download)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
        assert "test_report.pdf" in response["Content-Disposition"]
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-SHA256"] == document.sha256
        content = b"".join(response.streaming_content)
        assert hashlib.sha256(content).hexdigest() == document.sha256
        event = assert_audited("record.download", user, before=before)
        assert event.object_type == "consultations.document" and event.object_id == str(document.pk)
        assert event.details["patient_id"] == consultation.patient_id and event.details["sha256"] == document.sha256


def test_jl_c5_invited_side_returns_material_with_a_reason(world):
    consultation = world.sent()
    document = consultation.documents.get(kind="test_report")
    coordinator = token_client(world.invited_coordinator)
    body = assert_error(coordinator.post(url(consultation, "return"), {"reason": "", "document_ids": [document.pk]}, format="json"), 400, "JL-C5")
    assert "理由" in body["message"]
    assert_error(coordinator.post(url(consultation, "return"), {"reason": "报告不清晰", "document_ids": [999999]}, format="json"), 400, "invalid")
    before = audit_count("consultation.return_material")
    response = coordinator.post(url(consultation, "return"), {"reason": "检验报告不清晰", "document_ids": [document.pk]}, format="json")
    assert response.status_code == 200, response.data
    body = response.json()
    assert body["state"] == ConsultationState.RETURNED and body["return_reason"] == "检验报告不清晰"
    returned = next(d for d in body["documents"] if d["id"] == document.pk)
    assert returned["returned_at"] is not None and returned["return_reason"] == "检验报告不清晰"
    assert_audited("consultation.return_material", world.invited_coordinator, before=before)


def test_jl_c4_decline_needs_a_reason(world):
    consultation = world.sent()
    coordinator = token_client(world.invited_coordinator)
    assert_error(coordinator.post(url(consultation, "decline"), {}, format="json"), 400, "JL-C4")
    response = coordinator.post(url(consultation, "decline"), {"reason": "本院无该专业专家"}, format="json")
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ConsultationState.DECLINED
    assert response.json()["decline_reason"] == "本院无该专业专家"


def test_jl_c4_draft_without_invitation_contents_lists_every_missing_item(world, inviting_partner):
    patient = world.patient()
    response = token_client(inviting_partner).post(
        f"{API}/consultations/",
        {"patient": patient.pk, "invited": world.invited.pk, "service_type": "consultation"},
        format="json",
    )
    body = assert_error(response, 400, "JL-C4")
    detail = body["extra"]["reasons"][0]["detail"]
    for item in ("申请理由", "会诊目的", "病例摘要", "所需专业"):
        assert item in detail


def test_jl_c6_correction_is_a_new_signed_version_pointing_back(world):
    consultation = signed(world)
    expert = session_client(world.expert)
    first = consultation.opinions.get()
    body = assert_error(
        expert.post(url(consultation, "correct"), {"content": "更正", "correction_reason": "", "opinion": first.pk}, format="json"),
        400,
        "JL-C6",
    )
    assert "理由" in body["message"]
    before = audit_count("opinion.correct")
    response = expert.post(
        url(consultation, "correct"),
        {"content": "考虑结核性胸膜炎，建议胸水 ADA 及结核感染T细胞检测。", "correction_reason": "补充检查项目", "opinion": first.pk},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.json()["version"] == 2 and response.json()["supersedes"] == first.pk
    assert_audited("opinion.correct", world.expert, before=before)
    opinions = expert.get(url(consultation)).json()["opinions"]
    assert [(o["version"], o["supersedes"]) for o in opinions] == [(1, None), (2, first.pk)]
    assert opinions[0]["content_sha256"] != opinions[1]["content_sha256"]


def test_jl_c6_only_the_assigned_expert_signs(world):
    consultation = in_session(world)
    assert_error(token_client(world.invited_coordinator).post(url(consultation, "sign"), {"content": "意见"}, format="json"), 403, "permission_denied")


def test_jl_o5_score_outside_one_to_five_is_refused(world, inviting_partner):
    consultation = signed(world)
    services.consultation_close(actor=world.clinician, consultation=consultation)
    body = assert_error(
        token_client(inviting_partner).post(url(consultation, "rate"), {"rater_kind": "patient", "score": 6}, format="json"),
        400,
        "JL-O5",
    )
    assert body["extra"]["reasons"][0]["article"] == "第四十六条第三项"


def test_jl_f5_suspended_invited_facility_cannot_accept(world):
    consultation = world.sent()
    facility_services.suspension_report(
        actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
        cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障",
    )
    coordinator = token_client(world.invited_coordinator)
    assert coordinator.get(url(consultation)).json()["allowed_actions"] == []
    assert_error(coordinator.post(url(consultation, "accept")), 400, "JL-F5")


# --- The state graph: wrong role, wrong move --------------------------------------------------------


def test_graph_wrong_role_invited_clinician_accepting_gets_403(world):
    consultation = world.sent()
    clinician = staff(world.invited, StaffRole.CLINICIAN)
    before = audit_count("consultation.accept")
    body = assert_error(token_client(clinician).post(url(consultation, "accept")), 403, "permission_denied")
    assert "受理" in body["message"]
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.SENT
    assert audit_count("consultation.accept") == before


def test_graph_wrong_role_is_403_before_the_body_is_read(world):
    consultation = world.accepted_with_expert()
    clinician = staff(world.invited, StaffRole.CLINICIAN)
    response = token_client(clinician).post(url(consultation, "schedule"), {"scheduled_for": "明天"}, format="json")
    assert_error(response, 403, "permission_denied")


def test_graph_closing_a_sent_request_is_an_invalid_transition(world, inviting_partner):
    consultation = world.sent()
    body = assert_error(token_client(inviting_partner).post(url(consultation, "close")), 400, "invalid_transition")
    assert "已发送" in body["message"]
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.SENT


def test_graph_inviting_side_cannot_assign_an_expert(world):
    consultation = world.accepted_with_expert()
    response = token_client(world.coordinator).post(url(consultation, "assign"), {"physician": world.attending.pk}, format="json")
    assert_error(response, 403, "permission_denied")


# --- Scoping: out of scope is 404 -----------------------------------------------------------------


def test_scope_unrelated_partner_gets_404_on_the_consultation_and_its_download(world, outsider):
    consultation = world.sent()
    document = consultation.documents.first()
    client = token_client(outsider)
    before = audit_count("record.download")
    assert_error(client.get(url(consultation)), 404, "not_found")
    assert_error(client.get(f"{url(consultation)}documents/{document.pk}/download/"), 404, "not_found")
    assert_error(client.post(url(consultation, "cancel"), {"reason": "x"}, format="json"), 404, "not_found")
    assert rows(client.get(f"{API}/consultations/")) == []
    assert audit_count("record.download") == before


def test_scope_document_of_another_consultation_is_404(world, inviting_partner):
    first, second = world.sent(), world.sent()
    other = second.documents.first()
    assert_error(token_client(inviting_partner).get(f"{url(first)}documents/{other.pk}/download/"), 404, "not_found")


def test_scope_invited_side_cannot_see_a_draft(world):
    draft = world.draft()
    sent = world.sent()
    coordinator = token_client(world.invited_coordinator)
    assert_error(coordinator.get(url(draft)), 404, "not_found")
    assert_error(coordinator.post(url(draft, "accept")), 404, "not_found")
    assert [c["id"] for c in rows(coordinator.get(f"{API}/consultations/?side=invited"))] == [sent.pk]
    assert rows(coordinator.get(f"{API}/consultations/?side=inviting")) == []


def test_scope_partner_of_another_facility_does_not_see_patients_or_obligations(world, outsider):
    patient = world.patient()
    obligation = services.obligation_open(
        actor=world.clinician, patient=patient, trigger="patient_request", event_at=timezone.now() - dt.timedelta(hours=1)
    )
    client = token_client(outsider)
    assert_error(client.get(f"{API}/patients/{patient.pk}/"), 404, "not_found")
    assert_error(client.get(f"{API}/obligations/{obligation.pk}/"), 404, "not_found")
    assert rows(client.get(f"{API}/patients/")) == []
    # Naming another facility's patient in a body is refused like a missing id: 404 (issue 14, JL-O1).
    response = client.post(f"{API}/admissions/", {"patient": patient.pk, "inpatient_number": "X1", "admitted_at": iso(timezone.now())}, format="json")
    assert_error(response, 404, "not_found")


def test_consultation_list_filters_by_side_state_and_search(world, inviting_partner):
    draft = world.draft(patient=world.patient(name="赵六"))
    sent = world.sent()
    client = token_client(inviting_partner)

    def ids(query: str) -> set[int]:
        return {c["id"] for c in rows(client.get(f"{API}/consultations/?{query}"))}

    assert ids("") == {draft.pk, sent.pk}
    assert ids("side=inviting") == {draft.pk, sent.pk}
    assert ids("side=invited") == set()
    assert ids("state=sent") == {sent.pk}
    assert ids("search=赵六") == {draft.pk}
    assert ids(f"search={sent.number}") == {sent.pk}
    assert_error(client.get(f"{API}/consultations/?side=elsewhere"), 400, "invalid")
    assert_error(client.get(f"{API}/consultations/?state=lost"), 400, "invalid")


# --- JL-C9: masking -------------------------------------------------------------------------------


def test_jl_c9_patient_list_masks_identity_and_phone_numbers(world, inviting_partner):
    patient = world.patient(id_number="220102196005011234", phone="13812341234")
    other = world.patient(name="孙七", id_number="22010219700101567X", phone="13900001111")
    client = token_client(inviting_partner)
    response = client.get(f"{API}/patients/")
    listed = {p["id"]: p for p in rows(response)}
    assert listed[patient.pk]["id_number"] == "220***********1234"
    assert listed[patient.pk]["phone"] == "138****1234"
    assert b"220102196005011234" not in response.content and b"13812341234" not in response.content
    assert client.get(f"{API}/patients/{patient.pk}/").json()["id_number"] == "220***********1234"

    def ids(term: str) -> list[int]:
        return [p["id"] for p in rows(client.get(f"{API}/patients/", {"search": term}))]

    assert ids("220102196005011234") == [patient.pk]  # the full number matches exactly
    assert ids("22010219700101567x") == [other.pk]  # letters match case-insensitively
    assert ids("2201021960") == []  # a partial number finds nobody
    assert ids("1234") == []
    assert ids("张三") == [patient.pk]


def test_jl_c9_mask_keeps_three_and_four():
    from consultations.rules import mask_number

    assert mask_number("220102196005011234") == "220***********1234"
    assert mask_number("13812341234") == "138****1234"
    assert mask_number("220102600501123") == "220********1123"
    assert mask_number("1234567") == "*******"
    assert mask_number("") == ""


# --- Patients, admissions, obligations (JL-C2) ------------------------------------------------------


def test_jl_c2_admission_diagnosis_and_discharge(world, inviting_partner):
    patient = world.patient()
    admission = services.admission_record(
        actor=world.clinician, patient=patient, inpatient_number="ZY-1", admitted_at=timezone.now() - dt.timedelta(days=2)
    )
    client = token_client(inviting_partner)
    detail = f"{API}/admissions/{admission.pk}/"
    assert_error(client.post(f"{detail}diagnosis/", {"diagnosis": "肺炎", "confirmed_at": "昨天"}, format="json"), 400, "invalid")
    before = audit_count("admission.diagnosis")
    response = client.post(f"{detail}diagnosis/", {"diagnosis": "社区获得性肺炎", "confirmed_at": iso(timezone.now())}, format="json")
    assert response.status_code == 200, response.data
    assert response.json()["diagnosis"] == "社区获得性肺炎"
    assert_audited("admission.diagnosis", inviting_partner, before=before)
    before = audit_count("admission.discharge")
    response = client.post(f"{detail}discharge/", {"discharged_at": iso(timezone.now())}, format="json")
    assert response.status_code == 200, response.data
    assert response.json()["discharged_at"] is not None
    assert_audited("admission.discharge", inviting_partner, before=before)
    assert [a["id"] for a in rows(client.get(f"{API}/admissions/?discharged=false"))] == []


def test_jl_c2_obligations_list_open_by_due_time_with_seconds_remaining(world, inviting_partner):
    patient = world.patient()
    now = timezone.now()
    later = services.obligation_open(actor=world.clinician, patient=patient, trigger="patient_request", event_at=now - dt.timedelta(hours=1))
    sooner = services.obligation_open(
        actor=world.clinician, patient=patient, trigger="expert_consult_failed", event_at=now - dt.timedelta(hours=20)
    )
    withdrawn = services.obligation_open(actor=world.clinician, patient=patient, trigger="patient_request", event_at=now - dt.timedelta(hours=2))
    services.obligation_withdraw(actor=world.clinician, obligation=withdrawn, reason="患者已转院")
    client = token_client(inviting_partner)

    listed = rows(client.get(f"{API}/obligations/"))
    assert [o["id"] for o in listed] == [sooner.pk, later.pk]
    assert 3 * 3600 - 120 < listed[0]["seconds_remaining"] <= 4 * 3600
    assert 22 * 3600 < listed[1]["seconds_remaining"] <= 23 * 3600
    assert listed[0]["due_at"] is not None
    assert {o["id"] for o in rows(client.get(f"{API}/obligations/?state=all"))} == {sooner.pk, later.pk, withdrawn.pk}
    assert [o["id"] for o in rows(client.get(f"{API}/obligations/?state=withdrawn"))] == [withdrawn.pk]
    assert_error(client.get(f"{API}/obligations/?state=forgotten"), 400, "invalid")


def test_jl_c2_obligation_open_and_withdraw(world, inviting_partner):
    patient = world.patient()
    client = token_client(inviting_partner)
    event_at = timezone.now() - dt.timedelta(hours=2)
    before = audit_count("obligation.open")
    response = client.post(
        f"{API}/obligations/", {"trigger": "expert_consult_failed", "patient": patient.pk, "event_at": iso(event_at)}, format="json"
    )
    assert response.status_code == 201, response.data
    body = response.json()
    assert dt.datetime.fromisoformat(body["due_at"]) == event_at + dt.timedelta(hours=24)
    assert_audited("obligation.open", inviting_partner, before=before)
    # Trigger (1) is the sweep's: not a choice here.
    response = client.post(f"{API}/obligations/", {"trigger": "undiagnosed", "patient": patient.pk, "event_at": iso(event_at)}, format="json")
    assert_error(response, 400, "invalid")

    detail = f"{API}/obligations/{body['id']}/"
    assert_error(client.post(f"{detail}withdraw/", {"reason": ""}, format="json"), 400, "JL-C2")
    before = audit_count("obligation.withdraw")
    response = client.post(f"{detail}withdraw/", {"reason": "患者自动出院"}, format="json")
    assert response.status_code == 200, response.data
    assert response.json()["state"] == ObligationState.WITHDRAWN and response.json()["seconds_remaining"] is None
    assert_audited("obligation.withdraw", inviting_partner, before=before)
    assert Obligation.objects.get(pk=body["id"]).withdrawn_reason == "患者自动出院"


# --- Input validation: 400 "invalid", never a 500 -----------------------------------------------------


def test_bad_input_is_400_invalid_never_500(world, inviting_partner):
    client = token_client(inviting_partner)
    patient = world.patient()
    consultation = world.accepted_with_expert()
    coordinator = token_client(world.invited_coordinator)
    cases = [
        (client, f"{API}/patients/", {"name": "甲", "sex": "1", "birth_date": "1990-13-45"}, "json"),
        (client, f"{API}/patients/", {"sex": "9"}, "json"),
        (client, f"{API}/admissions/", {"patient": patient.pk, "inpatient_number": "Z", "admitted_at": "yesterday"}, "json"),
        (client, f"{API}/consultations/", {"patient": "abc", "invited": world.invited.pk, "service_type": "consultation"}, "json"),
        (client, f"{API}/consultations/", ["not", "an", "object"], "json"),
        (client, f"{API}/obligations/", {"trigger": "patient_request", "patient": patient.pk, "event_at": iso(timezone.now()), "details": "x"}, "json"),
        (coordinator, url(consultation, "schedule"), {"scheduled_for": "not-a-date", "video_link": "https://m.example.cn"}, "json"),
        (coordinator, url(consultation, "schedule"), {"scheduled_for": iso(timezone.now())}, "json"),
        (coordinator, url(consultation, "return"), {"reason": "x", "document_ids": "all"}, "json"),
    ]
    for who, target, data, fmt in cases:
        assert_error(who.post(target, data, format=fmt), 400, "invalid")
    # A body whose only fault is a reference that resolves to nothing is 404, as a missing id in the path (issue 14).
    missing = [
        (client, f"{API}/consultations/", {"patient": patient.pk, "invited": world.invited.pk, "service_type": "nope"}, "json"),
        (coordinator, url(consultation, "assign"), {"physician": 10**9}, "json"),
    ]
    for who, target, data, fmt in missing:
        assert_error(who.post(target, data, format=fmt), 404, "not_found")
    draft = world.draft()
    assert_error(client.post(url(draft, "documents"), {"kind": "medical_record"}, format="multipart"), 400, "invalid")
    assert_error(
        client.post(url(draft, "consent"), {"signer_name": "李四", "relation": "cousin", "signed_at": "soon"}, format="multipart"),
        400,
        "invalid",
    )
    assert_error(client.get(f"{API}/consultations/abc/"), 404, "not_found")


# --- Endpoint access cases (anonymous 401, wrong facility 404, wrong role 403, right role + audit) ---


class WorldCases(EndpointAccessCases):
    @pytest.fixture(autouse=True)
    def _world(self, world):
        self.world = world


class TestJlC4Accept(WorldCases):
    """JL-C4: the invited facility's coordinator (or partner system) accepts."""

    event_type = "consultation.accept"

    def arrange(self) -> Access:
        world = self.world
        consultation = world.sent()
        other = FacilityFactory()

        def check(response):
            assert response.json()["state"] == ConsultationState.ACCEPTED

        return Access(
            call=Call("POST", url(consultation, "accept")),
            right=staff(world.invited, StaffRole.PARTNER_SYSTEM),
            wrong_facility=staff(other, StaffRole.COORDINATOR),
            wrong_role=staff(world.invited, StaffRole.CLINICIAN),
            check=check,
        )


class TestJlC5DocumentUpload(WorldCases):
    """JL-C5: the inviting side uploads (multipart); finance staff see the case but may not upload."""

    event_type = "document.upload"
    success_status = 201

    def arrange(self) -> Access:
        world = self.world
        consultation = world.draft()
        return Access(
            call=Call(
                "POST", url(consultation, "documents"),
                data=lambda: {"kind": "imaging", "title": "胸部CT", "file": pdf("ct.pdf")}, format="multipart",
            ),
            right=staff(world.inviting, StaffRole.PARTNER_SYSTEM),
            wrong_facility=staff(FacilityFactory(), StaffRole.PARTNER_SYSTEM),
            wrong_role=staff(world.inviting, StaffRole.FINANCE),
        )


class TestJlC7ExpertAssign(WorldCases):
    """JL-P1..P6 at assignment: only the invited coordinator assigns."""

    event_type = "consultation.expert.assign"
    success_status = 201

    def arrange(self) -> Access:
        world = self.world
        consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent())
        expert = RegistrationFactory(facility=world.invited).physician
        return Access(
            call=Call("POST", url(consultation, "assign"), data={"physician": expert.pk}),
            right=world.invited_coordinator,
            wrong_facility=staff(FacilityFactory(), StaffRole.COORDINATOR),
            wrong_role=staff(world.invited, StaffRole.PARTNER_SYSTEM),
        )


class TestJlC2ObligationWithdraw(WorldCases):
    event_type = "obligation.withdraw"

    def arrange(self) -> Access:
        world = self.world
        obligation = services.obligation_open(
            actor=world.clinician, patient=world.patient(), trigger="patient_request", event_at=timezone.now() - dt.timedelta(hours=1)
        )
        return Access(
            call=Call("POST", f"{API}/obligations/{obligation.pk}/withdraw/", data={"reason": "患者放弃远程会诊"}),
            right=staff(world.inviting, StaffRole.PARTNER_SYSTEM),
            wrong_facility=staff(FacilityFactory(), StaffRole.PARTNER_SYSTEM),
            wrong_role=staff(world.inviting, StaffRole.FINANCE),
        )


# --- Query counts ------------------------------------------------------------------------------------

# JL-C8: every read writes its access event, a fixed cost per request: two savepoints, the chain's
# last event, the insert, two releases. A retrieve of a consultation also asks whether it is sealed
# (twice: for ``?purpose=`` and for the event's ``sealed`` flag).
ACCESS_LOG_WRITE = audit_write_queries()
SEAL_CHECKS = 2


def test_consultation_list_queries_do_not_grow_3_vs_15(world, inviting_partner, django_assert_max_num_queries):
    client = token_client(inviting_partner)
    counts = []
    for target in (3, 15):
        while world.inviting.requests_sent.count() < target:
            if world.inviting.requests_sent.count() % 3 == 0:
                world.sent()
            else:
                world.draft()
        # Issue 11: 2 + the access record (was 5): token, one scope query, count and page.
        with django_assert_max_num_queries(2 + ACCESS_LOG_WRITE) as captured:
            response = client.get(f"{API}/consultations/")
        assert response.json()["count"] == target
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_consultation_detail_queries_do_not_grow_with_its_contents(world, inviting_partner, django_assert_max_num_queries):
    client = token_client(inviting_partner)
    counts = []
    for consultation in (world.draft(), signed(world)):
        # 7 (11 before issue 11): the case (its consent joined) with its participants, documents, opinions,
        # responsibilities, consent versions, ratings; one scope query, no savepoint around the access record.
        with django_assert_max_num_queries(7 + ACCESS_LOG_WRITE + SEAL_CHECKS) as captured:
            response = client.get(url(consultation))
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_patient_list_queries_do_not_grow(world, inviting_partner, django_assert_max_num_queries):
    def add(n):
        for i in range(n):
            world.patient(name=f"患者{i}", external_id=f"HIS-{world.inviting.patients.count()}")

    assert_list_queries_constant(
        token_client(inviting_partner), f"{API}/patients/", add_rows=add, assert_max_num_queries=django_assert_max_num_queries,
        max_queries=5 + ACCESS_LOG_WRITE,
    )


def test_admission_and_obligation_lists_queries_do_not_grow(world, inviting_partner, django_assert_max_num_queries):
    patient = world.patient()

    def add_admissions(n):
        for _ in range(n):
            number = f"ZY-{world.inviting.admissions.count()}"
            services.admission_record(actor=world.clinician, patient=patient, inpatient_number=number, admitted_at=timezone.now())

    def add_obligations(n):
        for _ in range(n):
            services.obligation_open(actor=world.clinician, patient=patient, trigger="patient_request", event_at=timezone.now())

    client = token_client(inviting_partner)
    for target, add in ((f"{API}/admissions/", add_admissions), (f"{API}/obligations/", add_obligations)):
        assert_list_queries_constant(
            client, target, add_rows=add, assert_max_num_queries=django_assert_max_num_queries,
            max_queries=5 + ACCESS_LOG_WRITE,
        )
