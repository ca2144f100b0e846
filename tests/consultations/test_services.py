"""Consultations services end to end: the workflow, its refusals, and what each step records."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consultations import services
from consultations.choices import ConsultationState as S
from consultations.models import Consent, ConsentVersion, Consultation, Opinion, ResponsibilityRecord
from facilities import services as facility_services
from facilities.choices import StaffRole, Title
from facilities.models import ServiceType
from telemed.errors import ApplicationError
from tests.factories import (
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    division,
    pdf,
    regulator,
    staff,
)

pytestmark = pytest.mark.django_db


def event_types(consultation):
    return list(
        AuditEvent.objects.filter(details__consultation=consultation.number).order_by("sequence").values_list("event_type", flat=True)
    )


def test_a_case_from_draft_to_rating(world, django_capture_on_commit_callbacks):
    consultation = world.accepted_with_expert()
    assert consultation.state == S.ACCEPTED and consultation.agreement is not None
    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link="https://meet.example/jdyy-101")
    services.consultation_start_session(actor=world.expert, consultation=consultation)
    opinion = services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎，建议胸腔穿刺。")
    consultation.refresh_from_db()
    assert consultation.state == S.SIGNED and opinion.version == 1 and len(opinion.content_sha256) == 64
    with django_capture_on_commit_callbacks(execute=True):  # the charge follows the close's commit
        services.consultation_close(actor=world.clinician, consultation=consultation)
    services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="clinician", score=5, comment="意见及时")
    consultation.refresh_from_db()
    assert consultation.state == S.CLOSED
    assert event_types(consultation) == [
        "consultation.create", "consultation.consent", "consultation.participant.add",
        "document.upload", "document.upload", "document.upload", "consultation.send",
        "responsibility.record", "consultation.accept", "consultation.expert.assign", "consultation.schedule",
        "consultation.start_session", "responsibility.record", "opinion.sign", "consultation.close",
        "billing.charge.missing_price",  # no price set in this world: recorded, backfilled later (JL-B1)
        "consultation.rate",
    ]


def test_jl_c3_send_refused_without_consent_and_participant_listing_everything(world):
    draft = world.draft()
    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=draft)
    assert refused.value.code == "JL-C3"
    assert len(refused.value.extra["reasons"]) == 4
    draft.refresh_from_db()
    assert draft.state == S.DRAFT


def test_jl_p_attending_physician_of_inviting_side_is_checked(world):
    draft = world.draft()
    outsider = RegistrationFactory(facility=world.invited).physician
    with pytest.raises(ApplicationError) as refused:
        services.participant_add_inviting(actor=world.clinician, consultation=draft, physician=outsider)
    assert [r["rule"] for r in refused.value.extra["reasons"]] == ["JL-P2", "JL-P3", "JL-P6"]


def test_jl_f_send_rechecks_both_facilities_and_the_agreement(world):
    consultation = world.ready(world.draft(service="pathology"))
    world.invited.licence_expires_on = timezone.localdate() - dt.timedelta(days=1)
    world.invited.save()
    facility_services.suspension_report(actor=staff(world.inviting, StaffRole.FACILITY_ADMIN), facility=world.inviting,
                                        cause="equipment_change", description="网络中断")
    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=consultation)
    # The freeze (JL-F5) answers first: a suspended facility may not act at all.
    assert refused.value.code == "JL-F5"


def test_jl_f3_no_agreement_covering_the_service(world):
    other = FacilityFactory(name="延边大学附属医院", division=division("222401"))
    consultation = world.ready(world.draft(invited=other))
    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=consultation)
    assert refused.value.code == "JL-F3" and "未签署" in refused.value.message


def test_jl_f2_level_one_invited_facility_is_refused_at_send(world):
    township = FacilityFactory(level=1)
    consultation = world.ready(world.draft(invited=township))
    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=consultation)
    assert refused.value.code == "JL-F2"
    assert any("二级以上" in r["text"] for r in refused.value.extra["reasons"])


def test_jl_f5_suspension_freezes_open_cases_but_allows_cancellation(world):
    consultation = world.sent()
    facility_services.suspension_report(actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
                                        cause="quality_risk", description="质控发现隐患")
    with pytest.raises(ApplicationError) as refused:
        services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
    assert refused.value.code == "JL-F5"
    services.consultation_cancel(actor=world.coordinator, consultation=consultation, reason="受邀方暂停服务，改约他院")
    consultation.refresh_from_db()
    assert consultation.state == S.CANCELLED


def test_jl_c4_decline_needs_a_reason(world):
    consultation = world.sent()
    with pytest.raises(ApplicationError) as refused:
        services.consultation_decline(actor=world.invited_coordinator, consultation=consultation, reason=" ")
    assert refused.value.code == "JL-C4"
    services.consultation_decline(actor=world.invited_coordinator, consultation=consultation, reason="本院无该专业专家")
    consultation.refresh_from_db()
    assert consultation.state == S.DECLINED and consultation.decline_reason == "本院无该专业专家"


def test_jl_c5_return_material_marks_documents_and_resend(world):
    consultation = world.sent()
    blurry = consultation.documents.get(kind="test_report")
    services.consultation_return_material(actor=world.invited_coordinator, consultation=consultation,
                                          reason="检验报告模糊不清", document_ids=[blurry.pk])
    blurry.refresh_from_db()
    assert blurry.returned_at is not None and blurry.return_reason == "检验报告模糊不清"
    services.document_upload(actor=world.clinician, consultation=consultation, kind="test_report", title="清晰版", upload=pdf("r2.pdf", b"%PDF-1.4 clear"))
    services.consultation_send(actor=world.coordinator, consultation=consultation)
    consultation.refresh_from_db()
    assert consultation.state == S.SENT


def test_jl_c5_document_fingerprint_and_type(world):
    draft = world.draft()
    document = services.document_upload(actor=world.clinician, consultation=draft, kind="imaging", title="胸部CT",
                                        upload=pdf("ct.dcm", b"\x00" * 128 + b"DICM" + b"\x00" * 64))
    assert document.content_type == "application/dicom" and document.size == 196 and len(document.sha256) == 64
    with pytest.raises(ApplicationError) as refused:
        services.document_upload(actor=world.clinician, consultation=draft, kind="other", title="x", upload=pdf("x.pdf", b"MZ\x90\x00evil"))
    assert refused.value.code == "JL-C5"


def test_jl_p_assignment_refused_with_every_reason_and_audited(world):
    consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent())
    junior = RegistrationFactory(facility=world.invited, physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN, scopes=["surgery"])).physician
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=junior)
    assert [r["rule"] for r in refused.value.extra["reasons"]] == ["JL-P4", "JL-P5"]
    assert AuditEvent.objects.filter(event_type="physician.qualification.assign", outcome="failure").count() == 1


def test_jl_c4_expert_title_must_meet_the_title_wanted(world):
    consultation = services.consultation_accept(
        actor=world.invited_coordinator, consultation=world.sent(wanted_title=Title.CHIEF_PHYSICIAN)
    )
    associate = RegistrationFactory(facility=world.invited, physician=PhysicianFactory(title=Title.ASSOCIATE_CHIEF_PHYSICIAN)).physician
    with pytest.raises(ApplicationError) as refused:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=associate)
    assert refused.value.code == "JL-C4" and "主任医师" in refused.value.message


def test_jl_c6_signed_opinion_is_immutable_and_corrections_chain(world):
    consultation = world.accepted_with_expert(service="imaging")
    first = services.opinion_sign(actor=world.expert, consultation=consultation, content="右肺下叶结节，建议随访。")
    assert first.kind == "report"  # a diagnosis service gives a report (art. 29)
    first.content = "改过的内容"
    with pytest.raises(ValueError, match="JL-C6"):
        first.save()
    with pytest.raises(ApplicationError) as twice:
        services.opinion_sign(actor=world.expert, consultation=consultation, content="再签一次")
    assert twice.value.code in ("JL-C6", "invalid_transition")
    with pytest.raises(ApplicationError, match="理由"):
        services.opinion_sign(actor=world.expert, consultation=consultation, content="更正", corrects=Opinion.objects.get(pk=first.pk))
    second = services.opinion_sign(actor=world.expert, consultation=consultation, content="右肺下叶结节 8mm，建议3个月复查。",
                                   corrects=Opinion.objects.get(pk=first.pk), correction_reason="补充结节大小")
    assert second.version == 2 and second.supersedes_id == first.pk and second.content_sha256 != first.content_sha256
    assert Opinion.objects.get(pk=first.pk).content == "右肺下叶结节，建议随访。"


def test_jl_c6_only_the_assigned_expert_may_sign(world):
    consultation = world.accepted_with_expert(service="imaging")
    other_user = staff(world.invited, StaffRole.CLINICIAN)
    RegistrationFactory(facility=world.invited, physician=PhysicianFactory(user=other_user, scopes=["internal"]))
    with pytest.raises(ApplicationError) as refused:
        services.opinion_sign(actor=other_user, consultation=consultation, content="x")
    assert refused.value.code == "permission_denied"


def test_jl_p_signature_rechecks_qualifications_as_of_that_moment(world):
    consultation = world.accepted_with_expert(service="imaging")
    world.expert_physician.certificate_valid_until = timezone.localdate() - dt.timedelta(days=1)
    world.expert_physician.save()
    with pytest.raises(ApplicationError) as refused:
        services.opinion_sign(actor=world.expert, consultation=consultation, content="报告")
    assert refused.value.code == "JL-P1"
    consultation.refresh_from_db()
    assert consultation.state == S.ACCEPTED
    assert AuditEvent.objects.filter(event_type="physician.qualification.sign", outcome="failure").exists()


def test_jl_c7_responsibility_recorded_at_acceptance_and_signature(world):
    consultation = world.accepted_with_expert(service="imaging")
    services.opinion_sign(actor=world.expert, consultation=consultation, content="报告")
    records = list(ResponsibilityRecord.objects.filter(consultation=consultation).order_by("recorded_at", "id"))
    assert [(r.occasion, r.article) for r in records] == [("accepted", "JL-C7 第二十九条"), ("signed", "JL-C7 第二十九条")]
    assert "数据（标本）质量" in records[0].inviting_answers_for and "诊断报告" in records[0].invited_answers_for


def test_jl_c7_opinion_services_leave_responsibility_with_the_inviting_side(world):
    consultation = world.accepted_with_expert()
    (record,) = ResponsibilityRecord.objects.filter(consultation=consultation)
    assert record.article == "JL-C7 第二十八条" and "诊疗责任" in record.inviting_answers_for


def test_jl_o5_rating_only_after_closing_and_once_per_rater(world):
    consultation = world.accepted_with_expert(service="imaging")
    with pytest.raises(ApplicationError) as early:
        services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="clinician", score=4)
    assert early.value.code == "JL-O5"
    services.opinion_sign(actor=world.expert, consultation=consultation, content="报告")
    services.consultation_close(actor=world.coordinator, consultation=consultation)
    with pytest.raises(ApplicationError) as bad:
        services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="patient", score=9)
    assert bad.value.code == "JL-O5"
    services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="patient", score=4, comment="满意")
    with pytest.raises(ApplicationError):
        services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="patient", score=5)


def test_jl_f4_diagnosis_request_without_anyone_on_duty_is_flagged(world):
    consultation = world.sent(service="imaging", wanted_scope="imaging")
    assert consultation.duty_gap_flag is True
    now = timezone.now()
    facility_services.duty_shift_add(actor=world.invited_coordinator, facility=world.invited, physician=world.expert_physician,
                                     scope="imaging", starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=8))
    covered = world.sent(service="imaging", wanted_scope="imaging")
    assert covered.duty_gap_flag is False


def test_invited_side_cannot_see_drafts_regulators_can(world):
    from consultations.models import Consultation

    draft = world.draft()
    assert not Consultation.objects.visible_to(world.invited_coordinator).filter(pk=draft.pk).exists()
    assert Consultation.objects.visible_to(world.coordinator).filter(pk=draft.pk).exists()
    assert Consultation.objects.visible_to(regulator("220100")).filter(pk=draft.pk).exists()
    assert not Consultation.objects.visible_to(regulator("220200")).filter(pk=draft.pk).exists()


def test_service_types_added_by_the_regulator_are_usable(world):
    tele_ecg = ServiceType.objects.create(code="tele_icu", name="远程重症监护指导", category="opinion")
    world.invited.agreements_as_invited.first().service_types.add(tele_ecg)
    consultation = world.sent(service="tele_icu")
    assert consultation.state == S.SENT


def test_jl_c3_the_inviting_participant_must_be_a_licensed_physician_not_a_technician(world):
    technician = RegistrationFactory(facility=world.inviting, physician=PhysicianFactory(title=Title.TECHNICIAN)).physician
    with pytest.raises(ApplicationError) as refused:
        services.participant_add_inviting(actor=world.clinician, consultation=world.draft(), physician=technician)
    assert refused.value.code == "JL-C3" and "医师系列" in refused.value.message


def test_jl_c4_scheduling_in_the_past_is_refused(world):
    consultation = world.accepted_with_expert()
    with pytest.raises(ApplicationError, match="JL-C4 国家远程医疗服务管理规范: 会诊时间不能早于当前时间") as refused:
        services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                       scheduled_for=timezone.now() - dt.timedelta(hours=2), video_link="https://meet.example.cn/r/1")
    assert refused.value.code == "JL-C4"
    consultation.refresh_from_db()
    assert consultation.state == S.ACCEPTED and consultation.scheduled_for is None


def test_jl_c4_a_request_wanted_at_a_past_time_is_refused(world):
    with pytest.raises(ApplicationError) as refused:
        world.draft(requested_time=timezone.now() - dt.timedelta(days=1))
    assert refused.value.code == "JL-C4" and "期望会诊时间不能早于当前时间" in refused.value.message
    assert not Consultation.objects.exists()
    assert world.draft(requested_time=timezone.now() + dt.timedelta(days=1)).requested_time is not None


@pytest.mark.parametrize("offset", [dt.timedelta(days=1), -dt.timedelta(days=366)], ids=["future", "over-a-year-ago"])
def test_jl_c3_consent_signed_in_the_future_or_over_a_year_ago_is_refused(world, offset):
    consultation = world.draft()
    with pytest.raises(ApplicationError) as refused:
        services.consent_record(actor=world.clinician, consultation=consultation, signer_name="李四", relation="spouse",
                                signed_at=timezone.now() + offset, sensitive_info_consent=True, signed_copy=pdf("consent.pdf"))
    assert refused.value.code == "JL-C3" and refused.value.message.startswith("JL-C3 第二十三条: 知情同意书签署时间")
    assert not Consent.objects.exists()
    services.consent_record(actor=world.clinician, consultation=consultation, signer_name="李四", relation="spouse",
                            signed_at=timezone.now() - dt.timedelta(days=364), sensitive_info_consent=True, signed_copy=pdf("consent.pdf"))


@pytest.mark.parametrize("link", ["javascript:alert(1)", "JavaScript:alert(1)", "room-1", "ftp://meet.example.cn/r", "https://", " https://x .cn"])
def test_a_video_link_must_be_an_http_or_https_address(world, link):
    consultation = world.accepted_with_expert()
    with pytest.raises(ApplicationError) as refused:
        services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                       scheduled_for=timezone.now() + dt.timedelta(hours=2), video_link=link)
    assert refused.value.code == "video_link_invalid"
    consultation.refresh_from_db()
    assert consultation.state == S.ACCEPTED and consultation.video_link == ""
    assert "consultation.schedule" not in event_types(consultation)


def test_jl_c3_consent_recorded_again_is_a_new_version_and_the_old_one_is_kept(world, client):
    consultation = world.ready(world.draft())  # version 1, signed by 李四 (spouse) with a copy
    first = consultation.consent
    first_digest, first_file = first.signed_copy_sha256, first.signed_copy.name
    assert first.version == 1 and first_digest
    again = services.consent_record(
        actor=world.coordinator, consultation=consultation, signer_name="王五", relation="child",
        signed_at=timezone.now() - dt.timedelta(minutes=1), sensitive_info_consent=False,
        e_signature_reference="CA-2026-0001",
    )
    assert again.pk == first.pk and again.version == 2 and again.signer_name == "王五"
    (kept,) = ConsentVersion.objects.filter(consultation=consultation)
    assert (kept.version, kept.signer_name, kept.relation, kept.signed_copy_sha256, kept.signed_copy.name) == (
        1, "李四", "spouse", first_digest, first_file)
    assert kept.sensitive_info_consent is True and kept.superseded_by == world.coordinator
    assert kept.recorded_by == world.clinician
    event = AuditEvent.objects.filter(event_type="consultation.consent").order_by("-sequence").first()
    assert event.details["version"] == 2
    # Both are shown on the case page.
    client.force_login(world.clinician)
    page = client.get(reverse("consultations:detail", args=[consultation.pk])).content.decode()
    assert "第 2 版" in page and "已替代的 1 个版本" in page and "李四" in page and first_digest[:12] in page
