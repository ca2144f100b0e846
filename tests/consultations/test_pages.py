"""The consultations pages: work lists, the new-request wizard, the case page and its actions,
the 24-hour obligations with their countdown, violations, notifications and the start page.

Scoping (404 outside it), refusals shown on the page with every reason, audit events written
through the pages, masking (JL-C9) and query counts that do not grow with rows.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consultations import services
from consultations.choices import ConsultationState, ObligationState, TriggerKind
from consultations.models import Consent, Document, Notification, Obligation, Participant
from facilities import services as facility_services
from facilities.choices import FacilityLevel, StaffRole, SuspensionCause, Title
from facilities.models import ServiceType
from tests.api_cases import audit_write_queries
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    division,
    pdf,
    regulator,
    staff,
)

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
# JL-C8: the access event a list page writes costs a fixed number of queries.
ACCESS_LOG_WRITE = audit_write_queries()


def url(name, *args, **query):
    target = reverse(f"consultations:{name}", args=args)
    return target + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def html(response) -> str:
    return response.content.decode()


def events(event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type).count()


def dicom(name: str = "ct.dcm") -> SimpleUploadedFile:
    """A minimal DICOM Part 10 file: 128-byte preamble, then ``DICM``."""
    return SimpleUploadedFile(name, b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + b"\x00" * 64)


def in_session(world, **kwargs):
    consultation = world.accepted_with_expert(**kwargs)
    services.consultation_schedule(
        actor=world.invited_coordinator,
        consultation=consultation,
        scheduled_for=timezone.now() + dt.timedelta(hours=1),
        video_link="https://meet.example.cn/r/9",
    )
    return services.consultation_start_session(actor=world.invited_coordinator, consultation=consultation)


def closed(world):
    consultation = in_session(world)
    services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎。")
    return services.consultation_close(actor=world.clinician, consultation=consultation)


@pytest.fixture
def stranger(db):
    """A clinician of a hospital with no part in the case."""
    return staff(FacilityFactory(name="白城市中心医院"), StaffRole.CLINICIAN, username="stranger")


# --- Work lists ---------------------------------------------------------------------------------


def test_inviting_work_list_has_tabs_search_and_jl_f5_suspension_badges(client, world):
    draft = world.draft(patient=world.patient(name="王五"))
    sent = world.sent()
    province = regulator("220000")
    facility_services.suspension_report(
        actor=province, facility=world.invited, cause=SuspensionCause.QUALITY_RISK, description="设备故障"
    )
    client.force_login(world.clinician)

    response = client.get(url("list", side="inviting"))
    assert response.status_code == 200
    page = html(response)
    assert [c.pk for c in response.context["page_obj"]] == [draft.pk]  # first tab: drafts and returned
    for label in ("待上传义务", "草稿与退回补充", "已发送待受理", "等待意见", "意见已签发", "已结束"):
        assert label in page
    assert "JL-F5 暂停" in page

    assert [c.pk for c in client.get(url("list", side="inviting", tab="sent")).context["page_obj"]] == [
        sent.pk
    ]
    found = client.get(url("list", side="inviting", tab="all", q="王五")).context["page_obj"]
    assert [c.pk for c in found] == [draft.pk]
    assert [
        c.pk for c in client.get(url("list", side="inviting", tab="all", q=sent.number)).context["page_obj"]
    ] == [sent.pk]


def test_jl_c4_inbox_puts_requests_awaiting_acceptance_first_by_urgency_and_requested_time(client, world):
    soon = timezone.now() + dt.timedelta(hours=3)
    accepted = world.accepted_with_expert()
    routine_later = world.sent(requested_time=soon + dt.timedelta(days=1))
    routine_soon = world.sent(requested_time=soon)
    emergency = world.sent(urgency="emergency")
    world.draft()  # drafts never reach the invited side
    client.force_login(world.invited_coordinator)
    response = client.get(url("list", side="invited"))
    assert [c.pk for c in response.context["page_obj"]] == [
        emergency.pk,
        routine_soon.pk,
        routine_later.pk,
        accepted.pk,
    ]
    assert "收件箱" in html(response)


def test_jl_f4_inbox_flags_a_diagnosis_request_that_arrived_with_nobody_on_duty(client, world):
    imaging = world.sent(service="imaging")
    assert imaging.duty_gap_flag
    client.force_login(world.invited_coordinator)
    assert "JL-F4 无值班" in html(client.get(url("list", side="invited")))
    assert "JL-F4 第二十四条" in html(client.get(url("detail", imaging.pk)))


def test_work_list_queries_do_not_grow_with_rows_3_vs_15(client, world, django_assert_max_num_queries):
    client.force_login(world.clinician)
    for side, tab in (("inviting", "all"), ("invited", "todo"), ("inviting", "obligations")):
        counts = []
        for total in (3, 15):
            while Obligation.objects.count() < total:
                patient = world.patient(name=f"患者{Obligation.objects.count()}")
                services.obligation_open(
                    actor=world.clinician,
                    patient=patient,
                    trigger=TriggerKind.PATIENT_REQUEST,
                    event_at=timezone.now() - dt.timedelta(hours=1),
                    details={"requested_by": "家属"},
                )
                world.sent(patient=patient)
            client.get(url("list", side=side, tab=tab))  # warm the session's notification count
            # JL-C8: a list showing patients writes one record.list (ACCESS_LOG_WRITE). Issue 11: 5
            # (was 10): one scope query, the tab counts serve as the paginator's count, no savepoint
            # around the access record.
            with django_assert_max_num_queries(5 + ACCESS_LOG_WRITE) as captured:
                response = client.get(url("list", side=side, tab=tab))
            assert response.status_code == 200
            counts.append(len(captured))
        assert counts[0] == counts[1], (side, tab, counts)


# --- Scope: out of scope is a 404 (STYLE 3) ------------------------------------------------------


def test_scope_invited_coordinator_cannot_open_a_draft(client, world):
    draft = world.draft()
    client.force_login(world.invited_coordinator)
    assert client.get(url("detail", draft.pk)).status_code == 404
    assert client.post(url("accept", draft.pk)).status_code == 404


def test_scope_unrelated_clinician_gets_404_on_the_case_page_and_the_document_download(
    client, world, stranger
):
    consultation = world.sent()
    document = consultation.documents.first()
    client.force_login(stranger)
    assert client.get(url("detail", consultation.pk)).status_code == 404
    assert client.get(url("document-download", consultation.pk, document.pk)).status_code == 404
    assert client.get(url("consent-download", consultation.pk)).status_code == 404
    assert client.post(url("cancel", consultation.pk), {"cancel-reason": "x"}).status_code == 404
    assert client.get(url("list", side="inviting", tab="all")).context["page_obj"].paginator.count == 0


def test_scope_document_of_another_case_is_404(client, world):
    one, other = world.sent(), world.sent()
    client.force_login(world.clinician)
    assert client.get(url("document-download", one.pk, other.documents.first().pk)).status_code == 404


def test_jl_o1_regulator_reads_cases_in_the_division_and_gets_404_elsewhere(client, world):
    consultation = world.sent()
    client.force_login(regulator("220100"))  # 长春市: both parties lie below it
    response = client.get(url("detail", consultation.pk))
    assert response.status_code == 200 and response.context["offered"] == []
    access = AuditEvent.objects.filter(event_type="record.view").latest("sequence")
    assert access.acting_division_code == "220100"
    client.force_login(regulator("222400"))  # 延边州
    assert client.get(url("detail", consultation.pk)).status_code == 404


def test_jl_c8_a_sealed_case_is_read_only_on_the_page(client, world):
    from audit.records import seal_create

    consultation = world.sent()
    seal_create(
        actor=world.invited_coordinator,
        consultation=consultation,
        reason="医疗争议",
        inviting_party_name="王",
        inviting_party_role="医务科",
        invited_party_name="李",
        invited_party_role="患者家属",
    )
    client.force_login(world.invited_coordinator)
    # The purpose first (art. 37), then the record, read-only: no action form at all.
    response = client.get(url("detail", consultation.pk))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("audit:sealed-access", args=[consultation.pk]))
    client.post(reverse("audit:sealed-access", args=[consultation.pk]), {"purpose": "医疗争议调解"})
    response = client.get(url("detail", consultation.pk))
    page = html(response)
    assert response.context["offered"] == [] and "JL-C8 第三十七条" in page and "已封存 · 只读" in page
    assert 'class="form action-form"' not in page and "封存记录与快照比对" in page
    response = client.post(url("accept", consultation.pk))
    assert response.status_code == 400 and "封存期间任何人不得修改" in html(response)


def test_pages_need_a_login(client, world):
    response = client.get(url("list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- The new-request wizard (JL-F3, JL-C1, JL-C4) ------------------------------------------------


def test_jl_f3_new_request_offers_only_facilities_and_services_an_agreement_in_force_allows(client, world):
    unrelated = FacilityFactory(name="通化市中心医院")
    lapsed = FacilityFactory(name="四平市中心医院")
    AgreementFactory(
        inviting=world.inviting,
        invited=lapsed,
        valid_from=timezone.localdate() - dt.timedelta(days=400),
        valid_until=timezone.localdate() - dt.timedelta(days=1),
    )
    partial_partner = FacilityFactory(name="吉林市中心医院")
    AgreementFactory(inviting=world.inviting, invited=partial_partner, service_types=["pathology"])
    patient = world.patient()
    client.force_login(world.clinician)

    response = client.get(url("create-request", patient.pk))
    assert response.status_code == 200
    form = response.context["form"]
    offered = {(invited.name, service.code) for invited, service in form.allowed.values()}
    assert ("吉林大学第一医院", "consultation") in offered and ("吉林大学第一医院", "imaging") in offered
    assert offered & {(n, s) for n, s in offered if n == "吉林市中心医院"} == {
        ("吉林市中心医院", "pathology")
    }
    names = {invited.name for invited in form.invited_facilities}
    assert unrelated.name not in names and lapsed.name not in names
    labels = str(form.fields["destination"].choices)
    assert unrelated.name not in labels and lapsed.name not in labels and "吉林大学第一医院" in labels

    # A pair no agreement covers cannot be posted.
    response = client.post(
        url("create-request", patient.pk), {"destination": f"{partial_partner.pk}:consultation"}
    )
    assert "destination" in response.context["form"].errors


def test_new_request_wizard_registers_a_patient_and_creates_a_draft(client, world):
    client.force_login(world.clinician)
    response = client.get(url("create"))
    assert response.status_code == 200 and "登记新患者" in html(response)

    response = client.post(
        url("create"),
        {
            "facility": world.inviting.pk,
            "name": "赵六",
            "sex": "2",
            "birth_date": "1971-03-09",
            "id_number": "220122197103091236",
            "phone": "13900001111",
            "medical_record_number": "MZ2026001",
        },
    )
    patient = world.inviting.patients.get(name="赵六")
    assert response.status_code == 302 and response["Location"] == url("create-request", patient.pk)

    search = client.get(url("create", q="MZ2026001"))
    assert [p.pk for p in search.context["patients"]] == [patient.pk]
    assert "220***********1236" in html(search) and "220122197103091236" not in html(search)
    assert client.get(url("create", q="2201221971")).context["patients"] == []  # JL-C9: no partial numbers

    admission = services.admission_record(
        actor=world.clinician,
        patient=patient,
        inpatient_number="ZY2026118",
        admitted_at=timezone.now() - dt.timedelta(days=4),
    )
    service = ServiceType.objects.get(code="consultation")
    before = events("consultation.create")
    response = client.post(
        url("create-request", patient.pk),
        {
            "admission": admission.pk,
            "destination": f"{world.invited.pk}:{service.code}",
            "urgency": "urgent",
            "requested_time": f"{timezone.localtime() + dt.timedelta(days=3):%Y-%m-%dT09:30}",
            "wanted_scope": "internal",
            "wanted_title": Title.ASSOCIATE_CHIEF_PHYSICIAN,
            "reason": "反复发热两周",
            "purpose": "明确诊断",
            "case_summary": "发热待查，胸片示右侧胸腔积液。",
        },
    )
    consultation = patient.consultations.get()
    assert response.status_code == 302 and response["Location"] == url("detail", consultation.pk)
    assert (consultation.invited, consultation.service_type, consultation.urgency) == (
        world.invited,
        service,
        "urgent",
    )
    assert consultation.admission == admission
    assert consultation.state == ConsultationState.DRAFT
    assert events("consultation.create") == before + 1


def test_jl_c1_imaging_without_a_modality_is_refused_on_the_form_keeping_the_input(client, world):
    patient = world.patient()
    client.force_login(world.clinician)
    response = client.post(
        url("create-request", patient.pk),
        {
            "destination": f"{world.invited.pk}:imaging",
            "urgency": "routine",
            "wanted_scope": "imaging",
            "wanted_title": Title.ASSOCIATE_CHIEF_PHYSICIAN,
            "reason": "肺结节",
            "purpose": "影像诊断",
            "case_summary": "体检发现肺结节",
        },
    )
    assert response.status_code == 200
    page = html(response)
    assert "JL-C1 第三条" in page and "影像类别" in page
    assert "肺结节" in page  # what the user typed is kept
    assert not patient.consultations.exists()


def test_jl_c4_a_desired_time_in_the_past_is_refused_on_the_form(client, world):
    """Issue 8: a desired consultation time that has already passed cannot be true."""
    patient = world.patient()
    client.force_login(world.clinician)
    response = client.post(
        url("create-request", patient.pk),
        {
            "destination": f"{world.invited.pk}:consultation",
            "urgency": "routine",
            "requested_time": f"{timezone.localtime() - dt.timedelta(days=2):%Y-%m-%dT%H:%M}",
            "wanted_scope": "internal",
            "wanted_title": Title.ASSOCIATE_CHIEF_PHYSICIAN,
            "reason": "反复发热两周",
            "purpose": "明确诊断",
            "case_summary": "发热待查",
        },
    )
    assert response.status_code == 200
    assert "JL-C4 国家远程医疗服务管理规范: 期望会诊时间不能早于当前时间" in html(response)
    assert not patient.consultations.exists()


def test_wizard_is_for_clinical_staff_only(client, world):
    client.force_login(staff(world.inviting, StaffRole.FINANCE))
    assert client.get(url("create")).status_code == 403


# --- The case page: preparing and sending (JL-C3, JL-C5) -----------------------------------------


def test_jl_c3_c5_consent_participant_documents_and_send_through_the_case_page(client, world):
    consultation = world.draft()
    client.force_login(world.clinician)
    page = html(client.get(url("detail", consultation.pk)))
    assert url("consent", consultation.pk) in page and url("send", consultation.pk) in page
    assert url("accept", consultation.pk) not in page
    before = {
        e: events(e)
        for e in (
            "consultation.consent",
            "consultation.participant.add",
            "document.upload",
            "consultation.send",
        )
    }

    signed_at = timezone.localtime() - dt.timedelta(minutes=10)
    response = client.post(
        url("consent", consultation.pk),
        {
            "consent-signer_name": "李四",
            "consent-relation": "spouse",
            "consent-signed_at": f"{signed_at:%Y-%m-%dT%H:%M}",
            "consent-signed_copy": pdf("consent.pdf"),
            "consent-sensitive_info_consent": "on",
        },
    )
    assert response.status_code == 302
    consent = Consent.objects.get(consultation=consultation)
    assert consent.sensitive_info_consent and len(consent.signed_copy_sha256) == 64

    response = client.post(
        url("participant-add", consultation.pk), {"participant-physician": world.attending.pk}
    )
    assert response.status_code == 302
    assert Participant.objects.filter(
        consultation=consultation, physician=world.attending, side="inviting"
    ).exists()

    for kind, upload in (
        ("condition_summary", pdf("summary.pdf")),
        ("medical_record", pdf("record.pdf")),
        ("test_report", pdf("labs.pdf")),
        ("imaging", dicom()),
    ):
        response = client.post(
            url("document-upload", consultation.pk),
            {"document-kind": kind, "document-title": "", "document-upload": upload},
        )
        assert response.status_code == 302, html(response)
    assert Document.objects.get(consultation=consultation, kind="imaging").content_type == "application/dicom"

    response = client.post(url("send", consultation.pk))
    assert response.status_code == 302
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.SENT
    assert events("consultation.consent") == before["consultation.consent"] + 1
    assert events("consultation.participant.add") == before["consultation.participant.add"] + 1
    assert events("document.upload") == before["document.upload"] + 4
    assert events("consultation.send") == before["consultation.send"] + 1
    send_event = AuditEvent.objects.filter(event_type="consultation.send").latest("sequence")
    assert send_event.actor_id == world.clinician.pk and send_event.channel == "web"

    page = html(client.get(url("detail", consultation.pk)))
    assert "ct.dcm" in page and "DICOM" in page
    assert consent.signed_copy_sha256[:12] in page


def test_jl_c3_send_refused_for_missing_consent_shows_every_reason_and_keeps_the_page(client, world):
    consultation = world.draft()
    client.force_login(world.clinician)
    response = client.post(url("send", consultation.pk))
    assert response.status_code == 400
    page = html(response)
    assert consultation.number in page  # still the case page
    errors = response.context["forms"]["send"].non_field_errors()
    assert any("JL-C3 第二十一条、第二十三条" in e for e in errors)
    assert any("个人信息保护法第二十九条" in e for e in errors)
    assert any("须至少有1名邀请方执业医师参与" in e for e in errors)
    assert "须签署远程医疗服务知情同意书" in page
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.DRAFT


def test_jl_c3_consent_without_a_copy_or_e_signature_is_refused_keeping_the_input(client, world):
    consultation = world.draft()
    client.force_login(world.clinician)
    response = client.post(
        url("consent", consultation.pk),
        {
            "consent-signer_name": "李四",
            "consent-relation": "spouse",
            "consent-signed_at": f"{timezone.localtime() - dt.timedelta(minutes=1):%Y-%m-%dT%H:%M}",
        },
    )
    assert response.status_code == 400
    assert "请上传知情同意书签署件或填写电子签名凭证" in html(response)
    assert 'value="李四"' in html(response)


def test_jl_c5_executable_upload_is_refused_under_the_rule(client, world):
    consultation = world.draft()
    client.force_login(world.clinician)
    exe = SimpleUploadedFile("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\xff" * 100)
    response = client.post(
        url("document-upload", consultation.pk), {"document-kind": "other", "document-upload": exe}
    )
    assert response.status_code == 400
    assert "JL-C5 第二十九条" in html(response)
    assert not consultation.documents.exists()


# --- The case page: what it shows -----------------------------------------------------------------


def test_jl_c9_case_page_masks_identity_and_phone_numbers(client, world):
    consultation = world.sent()
    client.force_login(world.invited_coordinator)
    page = html(client.get(url("detail", consultation.pk)))
    assert "220***********1234" in page and "138****1234" in page
    assert "220102196005011234" not in page and "13812341234" not in page


def test_jl_c8_case_view_and_download_are_logged_and_streamed_as_attachments(client, world):
    consultation = world.sent()
    document = consultation.documents.first()
    client.force_login(world.invited_coordinator)
    views, downloads = events("record.view"), events("record.download")
    client.get(url("detail", consultation.pk))
    response = client.get(url("document-download", consultation.pk, document.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert events("record.view") == views + 1 and events("record.download") == downloads + 1
    assert "/media/" not in html(client.get(url("detail", consultation.pk)))


def test_case_page_offers_each_user_only_their_actions(client, world):
    sent = world.sent()
    client.force_login(world.clinician)
    page = html(client.get(url("detail", sent.pk)))
    assert url("cancel", sent.pk) in page and url("accept", sent.pk) not in page
    client.force_login(world.invited_coordinator)
    response = client.get(url("detail", sent.pk))
    assert set(response.context["offered"]) == {"accept", "decline", "return_material"}
    client.force_login(world.expert)  # an invited clinician, not (yet) assigned
    assert client.get(url("detail", sent.pk)).context["offered"] == []
    assert client.post(url("accept", sent.pk)).status_code == 403


def test_jl_c7_case_page_shows_responsibility_opinions_and_the_audit_timeline_in_order(client, world):
    consultation = in_session(world)
    services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎。")
    client.force_login(world.clinician)
    response = client.get(url("detail", consultation.pk))
    page = html(response)
    assert "JL-C7 第二十八条" in page and "承担诊疗责任" in page
    assert "考虑结核性胸膜炎" in page and "第 1 版" in page
    timeline = response.context["timeline"]
    assert [e.sequence for e in timeline] == sorted(e.sequence for e in timeline)
    types = [e.event_type for e in timeline]
    for event_type in ("consultation.create", "consultation.send", "consultation.accept", "opinion.sign"):
        assert event_type in types
    assert types.index("consultation.create") < types.index("consultation.send") < types.index("opinion.sign")
    assert "physician.qualification.assign" in types  # the JL-P checks of the assignment


def test_case_page_queries_do_not_grow_with_documents_3_vs_15(client, world, django_assert_max_num_queries):
    consultation = world.sent()
    client.force_login(world.invited_coordinator)
    counts = []
    for total in (3, 15):
        while consultation.documents.count() < total:
            services.document_upload(
                actor=world.clinician, consultation=consultation, kind="other", title="补充", upload=pdf()
            )
        client.get(url("detail", consultation.pk))
        # 10 (18 before issue 11): the session, the user, one scope query, the case (its consent
        # joined, its agreement's number a subquery), its participants, documents, opinions,
        # responsibility records and ratings, the seal, the timeline and the unread count. A case
        # without referrals (JL-C10) does not read them, a consent recorded once has no kept
        # versions to read (JL-C3).
        with django_assert_max_num_queries(10 + ACCESS_LOG_WRITE) as captured:
            response = client.get(url("detail", consultation.pk))
        assert response.status_code == 200 and len(response.context["documents"]) == total
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_case_page_shows_the_agreement_and_the_admission_reading_an_admission_only_when_there_is_one(
    client, world, django_assert_max_num_queries
):
    """Issue 11: the agreement comes as its number, the admission is read when the case has one."""
    patient = world.patient()
    admission = services.admission_record(
        actor=world.clinician, patient=patient, inpatient_number="ZY2026<118>", ward="呼吸科",
        admitted_at=timezone.now() - dt.timedelta(days=4),
    )
    plain, admitted = world.sent(), world.sent(patient=patient, admission=admission)
    client.force_login(world.invited_coordinator)
    counts = {}
    for consultation in (plain, admitted):
        client.get(url("detail", consultation.pk))
        with django_assert_max_num_queries(11 + ACCESS_LOG_WRITE) as captured:
            page = html(client.get(url("detail", consultation.pk)))
        counts[consultation.pk] = len(captured)
        agreement = consultation.agreement
        link = reverse("facilities:agreement-detail", args=[agreement.pk])
        assert f'<dt>合作协议</dt><dd><a href="{link}">{agreement.number}</a></dd>' in page
        assert ("ZY2026&lt;118&gt; 呼吸科 · 入院" in page) == (consultation == admitted)
        assert "ZY2026<118>" not in page
    assert counts[admitted.pk] == counts[plain.pk] + 1
    draft = world.draft()  # the agreement is chosen when it is sent
    client.force_login(world.clinician)
    assert '<dt>合作协议</dt><dd><span class="muted">发送时确定</span></dd>' in html(client.get(url("detail", draft.pk)))


# --- The case page: the invited side and the expert (JL-C4..C6, JL-P) -------------------------------


def test_jl_c4_decline_needs_a_reason_and_then_records_it(client, world):
    consultation = world.sent()
    client.force_login(world.invited_coordinator)
    response = client.post(url("decline", consultation.pk), {"decline-reason": " "})
    assert response.status_code == 400 and "JL-C4" in html(response)
    response = client.post(url("decline", consultation.pk), {"decline-reason": "本院该专业暂无副高以上医师"})
    assert response.status_code == 302
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.DECLINED and consultation.decline_reason.startswith("本院")


def test_jl_c5_invited_side_returns_ticked_documents_with_a_reason(client, world):
    consultation = world.sent()
    record = consultation.documents.get(kind="medical_record")
    client.force_login(world.invited_coordinator)
    response = client.post(
        url("return-material", consultation.pk),
        {
            "return_material-reason": "病历缺少既往史",
            "return_material-document_ids": [record.pk],
        },
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.returned_at is not None and record.return_reason == "病历缺少既往史"
    client.force_login(world.clinician)
    page = html(client.get(url("detail", consultation.pk)))
    assert "已退回" in page and "病历缺少既往史" in page


def test_jl_p_assigning_an_unqualified_expert_lists_every_failing_reason(client, world):
    consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent())
    junior = RegistrationFactory(
        facility=world.invited,
        authorised_at=None,
        physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN),
    ).physician
    client.force_login(world.invited_coordinator)
    response = client.get(url("detail", consultation.pk))
    choices = [
        str(label) for _value, label in response.context["forms"]["assign"].fields["physician"].choices
    ]
    # Only those who would pass every JL-P check are offered (JL-P4, JL-P6 fail for the junior).
    assert any(world.expert_physician.name in label for label in choices)
    assert not any(junior.name in label for label in choices)
    assert not any(world.attending.name in label for label in choices)

    # A stale page posting the junior anyway gets the service's refusal with every reason.
    response = client.post(url("assign-expert", consultation.pk), {"assign-physician": junior.pk})
    assert response.status_code == 400
    errors = " ".join(response.context["forms"]["assign"].non_field_errors())
    assert "JL-P4" in errors and "JL-P6" in errors
    assert not consultation.participants.filter(side="invited").exists()

    response = client.post(
        url("assign-expert", consultation.pk), {"assign-physician": world.expert_physician.pk}
    )
    assert response.status_code == 302
    assert consultation.participants.filter(side="invited", physician=world.expert_physician).exists()


def test_jl_c6_the_assigned_expert_signs_and_corrects_through_the_page(client, world):
    consultation = world.accepted_with_expert()
    client.force_login(world.invited_coordinator)
    response = client.post(
        url("schedule", consultation.pk),
        {
            "schedule-scheduled_for": f"{timezone.localtime() + dt.timedelta(hours=2):%Y-%m-%dT%H:%M}",
            "schedule-video_link": "https://meet.example.cn/r/7",
        },
    )
    assert response.status_code == 302
    assert client.post(url("start-session", consultation.pk)).status_code == 302
    assert "sign" not in client.get(url("detail", consultation.pk)).context["offered"]

    client.force_login(world.expert)
    assert "sign" in client.get(url("detail", consultation.pk)).context["offered"]
    assert (
        client.post(url("sign", consultation.pk), {"sign-content": "考虑肺结核，建议痰检。"}).status_code
        == 302
    )
    response = client.post(
        url("correct", consultation.pk),
        {"correct-content": "考虑肺结核，建议痰检及胸部CT。", "correct-correction_reason": ""},
    )
    assert response.status_code == 400 and "JL-C6" in html(response)
    response = client.post(
        url("correct", consultation.pk),
        {
            "correct-content": "考虑肺结核，建议痰检及胸部CT。",
            "correct-correction_reason": "补充检查建议",
        },
    )
    assert response.status_code == 302
    first, second = consultation.opinions.order_by("version")
    assert second.supersedes == first and second.correction_reason == "补充检查建议"
    page = html(client.get(url("detail", consultation.pk)))
    assert "更正第 1 版" in page and second.content_sha256[:16] in page and "已被更正" in page


def test_jl_o5_rating_after_close_through_the_page(client, world):
    consultation = closed(world)
    client.force_login(world.clinician)
    assert "rate" in client.get(url("detail", consultation.pk)).context["offered"]
    response = client.post(
        url("rate", consultation.pk),
        {"rate-rater_kind": "patient", "rate-score": "5", "rate-comment": "满意"},
    )
    assert response.status_code == 302
    assert consultation.ratings.get().score == 5
    form = client.get(url("detail", consultation.pk)).context["forms"]["rate"]
    assert [value for value, _label in form.fields["rater_kind"].choices] == ["clinician"]


def test_jl_f5_suspension_leaves_only_cancel_on_the_case_page(client, world):
    consultation = world.sent()
    facility_services.suspension_report(
        actor=world.invited_coordinator,
        facility=world.invited,
        cause=SuspensionCause.QUALITY_RISK,
        description="停电",
    )
    client.force_login(world.invited_coordinator)
    response = client.get(url("detail", consultation.pk))
    assert response.context["offered"] == []
    assert "JL-F5 第三十四条" in html(response)
    client.force_login(world.clinician)
    assert client.get(url("detail", consultation.pk)).context["offered"] == ["cancel", "document"]


# --- JL-C2: the 24-hour obligations -------------------------------------------------------------


def test_jl_c2_obligations_page_counts_down_from_data_due_and_turns_red_under_two_hours(client, world):
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        urgent = services.obligation_open(
            actor=world.clinician,
            patient=world.patient(name="急患"),
            trigger=TriggerKind.PATIENT_REQUEST,
            event_at=start - dt.timedelta(minutes=1),
            details={"requested_by": "患者本人"},
        )
    with time_machine.travel(start + dt.timedelta(hours=20), tick=False):
        relaxed = services.obligation_open(
            actor=world.clinician,
            patient=world.patient(name="缓患"),
            trigger=TriggerKind.EXPERT_CONSULT_FAILED,
            event_at=start + dt.timedelta(hours=20),
            details={"notes": "院内会诊未明确"},
        )
    client.force_login(world.clinician)
    with time_machine.travel(start + dt.timedelta(hours=22, minutes=30), tick=False):
        response = client.get(url("obligation-list"))
    page = html(response)
    assert [o.pk for o in response.context["page_obj"]] == [urgent.pk, relaxed.pk]  # by due time
    spans = re.findall(r'<span class="([^"]*)" data-due="([^"]+)"[^>]*>([^<]*)</span>', page)
    assert [(due, "countdown-urgent" in css) for css, due, _text in spans] == [
        ("2026-03-03T07:59:00+08:00", True),
        ("2026-03-04T04:00:00+08:00", False),
    ]
    assert "剩余 1 小时 29 分" in page  # the text without JavaScript
    assert "telemed/countdown.js" in page  # the live update (a static file: JL-A2, no inline script)
    assert "2026-03-03 07:59" in page  # due time in Asia/Shanghai
    with time_machine.travel(start + dt.timedelta(hours=24), tick=False):
        assert "已超时" in html(client.get(url("obligation-list")))


def test_jl_c2_record_triggers_2_and_3_then_withdraw_with_a_reason_through_the_page(client, world):
    patient = world.patient()
    client.force_login(world.clinician)
    page = client.get(url("obligation-list", q="张三"))
    assert [p.pk for p in page.context["patients"]] == [patient.pk]
    page = client.get(url("obligation-list", patient=patient.pk))
    assert page.context["patient"] == patient

    when = timezone.localtime() - dt.timedelta(hours=2)
    response = client.post(
        url("obligation-open-expert", patient.pk),
        {"t2-event_at": f"{when:%Y-%m-%dT%H:%M}", "t2-notes": "院内MDT未明确诊断"},
    )
    assert response.status_code == 302
    response = client.post(
        url("obligation-open-request", patient.pk),
        {"t3-event_at": f"{when:%Y-%m-%dT%H:%M}", "t3-requested_by": "配偶 李四"},
    )
    assert response.status_code == 302
    expert, asked = Obligation.objects.order_by("trigger")
    assert (expert.trigger, asked.trigger) == (TriggerKind.EXPERT_CONSULT_FAILED, TriggerKind.PATIENT_REQUEST)
    assert expert.trigger_details == {"notes": "院内MDT未明确诊断"}
    assert asked.trigger_details == {"requested_by": "配偶 李四"}

    future = timezone.localtime() + dt.timedelta(hours=2)
    response = client.post(
        url("obligation-open-request", patient.pk),
        {"t3-event_at": f"{future:%Y-%m-%dT%H:%M}", "t3-requested_by": "本人"},
    )
    assert response.status_code == 400 and "触发时间不能晚于当前时间" in html(response)

    response = client.post(url("obligation-withdraw", asked.pk), {f"w{asked.pk}-reason": ""})
    assert response.status_code == 400 and "JL-C2 第二十二条" in html(response)
    before = events("obligation.withdraw")
    response = client.post(url("obligation-withdraw", asked.pk), {f"w{asked.pk}-reason": "患者已转院"})
    assert response.status_code == 302
    asked.refresh_from_db()
    assert asked.state == ObligationState.WITHDRAWN and events("obligation.withdraw") == before + 1


def test_jl_c2_trigger_1_admission_and_diagnosis_through_the_page(client, world):
    patient = world.patient()
    client.force_login(world.clinician)
    admitted = timezone.localtime() - dt.timedelta(days=2)
    response = client.post(
        url("admission-record", patient.pk),
        {
            "adm-inpatient_number": "ZY2026009",
            "adm-ward": "呼吸内科",
            "adm-admitted_at": f"{admitted:%Y-%m-%dT%H:%M}",
        },
    )
    assert response.status_code == 302
    admission = patient.admissions.get()
    response = client.get(url("obligation-list"))
    assert [a.pk for a in response.context["watch"]] == [admission.pk]
    response = client.post(
        url("admission-diagnosis", admission.pk),
        {
            f"d{admission.pk}-diagnosis": "社区获得性肺炎",
            f"d{admission.pk}-confirmed_at": f"{timezone.localtime():%Y-%m-%dT%H:%M}",
        },
    )
    assert response.status_code == 302
    admission.refresh_from_db()
    assert admission.diagnosis == "社区获得性肺炎"
    assert client.get(url("obligation-list")).context["watch"] == []


def test_jl_c2_obligations_of_another_facility_are_not_shown_nor_withdrawable(client, world, stranger):
    obligation = services.obligation_open(
        actor=world.clinician,
        patient=world.patient(),
        trigger=TriggerKind.PATIENT_REQUEST,
        event_at=timezone.now() - dt.timedelta(hours=1),
        details={"requested_by": "本人"},
    )
    client.force_login(stranger)
    assert client.get(url("obligation-list")).context["page_obj"].paginator.count == 0
    assert (
        client.post(url("obligation-withdraw", obligation.pk), {f"w{obligation.pk}-reason": "x"}).status_code
        == 404
    )


def test_jl_o1_jl_c2_regulator_sees_violations_in_the_division_only(client, world):
    start = timezone.now() - dt.timedelta(hours=30)
    with time_machine.travel(start, tick=False):
        services.obligation_open(
            actor=world.clinician,
            patient=world.patient(name="逾期患者"),
            trigger=TriggerKind.PATIENT_REQUEST,
            event_at=start,
            details={"requested_by": "家属"},
        )
    services.obligation_sweep()
    client.force_login(regulator("220100"))  # 长春市: 农安县 is below it
    response = client.get(url("violation-list"))
    assert response.context["page_obj"].paginator.count == 1 and "逾期患者" in html(response)
    home = html(client.get(reverse("home")))
    assert "辖区最近的违规记录" in home and "逾期患者" in home
    client.force_login(regulator("220200"))  # 吉林市
    assert client.get(url("violation-list")).context["page_obj"].paginator.count == 0


# --- Start page and notifications --------------------------------------------------------------


def test_jl_c2_start_page_shows_open_obligations_most_urgent_first_and_work_counts(client, world):
    later = services.obligation_open(
        actor=world.clinician,
        patient=world.patient(name="后到期"),
        trigger=TriggerKind.PATIENT_REQUEST,
        event_at=timezone.now() - dt.timedelta(hours=1),
        details={"requested_by": "本人"},
    )
    sooner = services.obligation_open(
        actor=world.clinician,
        patient=world.patient(name="先到期"),
        trigger=TriggerKind.PATIENT_REQUEST,
        event_at=timezone.now() - dt.timedelta(hours=23),
        details={"requested_by": "本人"},
    )
    world.draft()
    world.accepted_with_expert()
    client.force_login(world.clinician)
    response = client.get(reverse("home"))
    page = html(response)
    assert page.index("先到期") < page.index("后到期")
    assert page.count('data-due="') == 2 and "countdown-urgent" in page
    assert "我的机构" in page  # what the start page showed before stays
    work = response.context["work"]
    assert [o.pk for o in work["obligations"]] == [sooner.pk, later.pk]
    assert work["counts"] == {"drafts": 1, "inbox": 0, "awaiting": 1}
    client.force_login(world.invited_coordinator)
    world.sent()
    assert client.get(reverse("home")).context["work"]["counts"]["inbox"] == 1


def test_notifications_list_mark_read_and_the_unread_count_in_the_navigation(client, world):
    world.sent()  # notifies the invited coordinators
    client.force_login(world.invited_coordinator)
    response = client.get(url("notification-list"))
    assert response.status_code == 200
    notification = Notification.objects.get(user=world.invited_coordinator)
    page = html(response)
    assert notification.title in page
    assert '<span class="nav-count" aria-label="未读">1</span>' in page
    # Pages outside the work area show the count remembered in the session, without a query.
    assert '<span class="nav-count" aria-label="未读">1</span>' in html(
        client.get(reverse("facilities:facility-list"))
    )
    response = client.post(url("notification-read", notification.pk))
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "nav-count" not in html(client.get(url("notification-list")))
    other = Notification.objects.create(user=world.clinician, created_at=timezone.now(), subject="x")
    client.post(url("notification-read", other.pk))  # someone else's: untouched
    other.refresh_from_db()
    assert other.read_at is None


def test_navigation_offers_the_consultation_pages_to_clinical_staff(client, world):
    client.force_login(world.clinician)
    page = html(client.get(reverse("home")))
    for target in (
        url("list") + "?side=inviting",
        url("list") + "?side=invited",
        url("obligation-list"),
        url("notification-list"),
    ):
        assert f'href="{target}"' in page
    client.force_login(regulator("220000"))
    page = html(client.get(reverse("home")))
    assert f'href="{url("violation-list")}"' in page and "?side=inviting" not in page


def test_a_level_2_partner_is_offered_too(client, world):
    """JL-F2 allows level 2 invited facilities; the wizard offers what the agreement allows."""
    county = FacilityFactory(name="德惠市人民医院", level=FacilityLevel.LEVEL_2, division=division("220183"))
    AgreementFactory(inviting=world.inviting, invited=county, service_types=["consultation"])
    client.force_login(world.coordinator)
    form = client.get(url("create-request", world.patient().pk)).context["form"]
    assert county in form.invited_facilities


# --- The video link (issue 8) ---------------------------------------------------------------------


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "room-1", "data:text/html,<script>x</script>"])
def test_a_video_link_that_is_not_http_is_refused_on_the_schedule_form(client, world, link):
    consultation = world.accepted_with_expert()
    client.force_login(world.invited_coordinator)
    response = client.post(
        url("schedule", consultation.pk),
        {"schedule-scheduled_for": f"{timezone.localtime() + dt.timedelta(hours=2):%Y-%m-%dT%H:%M}", "schedule-video_link": link},
    )
    assert response.status_code == 400 and "视频会议链接须为以 http:// 或 https:// 开头的网址" in html(response)
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.ACCEPTED and consultation.video_link == ""


def test_the_case_page_shows_the_video_link_as_a_link_opening_apart(client, world):
    consultation = world.accepted_with_expert()
    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link="https://meet.example.cn/r/7?a=1&b=2")
    client.force_login(world.clinician)
    page = html(client.get(url("detail", consultation.pk)))
    link = re.search(r'<a [^>]*id="video-link"[^>]*>', page).group(0)
    assert 'href="https://meet.example.cn/r/7?a=1&amp;b=2"' in link
    assert 'target="_blank"' in link and 'rel="noopener noreferrer"' in link


def test_start_a_request_for_a_patient_with_a_draft_opens_that_draft(client, world):
    patient = world.patient(name="赵六")
    draft = world.draft(patient=patient)
    client.force_login(world.clinician)
    url = reverse("consultations:create-request", args=[patient.pk])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == reverse("consultations:detail", args=[draft.pk])
    page = client.get(response["Location"]).content.decode()
    assert f"该患者已有草稿申请 {draft.number}" in page and f'href="{url}?new=1"' in page
    # "Start another" still starts another: the request form is shown.
    form_page = client.get(url + "?new=1")
    assert form_page.status_code == 200 and 'name="reason"' in form_page.content.decode()


def test_start_a_request_without_a_draft_shows_the_form_and_a_sent_request_is_not_a_draft(client, world):
    sent = world.sent()
    client.force_login(world.clinician)
    response = client.get(reverse("consultations:create-request", args=[sent.patient_id]))
    assert response.status_code == 200
