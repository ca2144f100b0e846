"""Refusals on record (JL-A1): a refusal a regulator wants to see leaves exactly one failure event
naming actor, object and reason, even though the refused act rolled back."""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit import records
from audit.models import AuditEvent
from consultations import services
from facilities.choices import SuspensionCause
from facilities.models import CooperationAgreement
from facilities.services import suspension_report
from telemed.errors import ApplicationError
from tests.factories import pdf, regulator

pytestmark = pytest.mark.django_db

PARTIES = dict(inviting_party_name="王主任", inviting_party_role="邀请方医务科科长", invited_party_name="张某", invited_party_role="患者之子")


def _seal(world, consultation):
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="患方对诊断报告有异议", **PARTIES)


def _only_failure(event_type: str) -> AuditEvent:
    events = list(AuditEvent.objects.filter(event_type=event_type))
    assert len(events) == 1, events
    assert events[0].outcome == "failure"
    return events[0]


def _upload(world, consultation):
    services.document_upload(actor=world.clinician, consultation=consultation, kind="other", title="补充", upload=pdf())


def _return_material(world, consultation):
    services.consultation_return_material(actor=world.invited_coordinator, consultation=consultation, reason="影像不清")


def _correct(world, consultation):
    opinion = consultation.opinions.get()
    services.opinion_sign(actor=world.expert, consultation=consultation, content="更正后的意见", corrects=opinion, correction_reason="笔误")


def _rate(world, consultation):
    services.rating_record(actor=world.clinician, consultation=consultation, rater_kind="clinician", score=5)


@pytest.mark.parametrize(
    ("act", "attempt", "actor"),
    [("upload", _upload, "clinician"), ("return_material", _return_material, "invited_coordinator"),
     ("correct", _correct, "expert"), ("rate", _rate, "clinician")],
)
def test_jl_c8_jl_a1_a_refused_change_of_a_sealed_record_is_on_record(world, act, attempt, actor):
    """JL-C8, JL-A1: each service refuses a sealed record with JL-C8 and the refusal survives its rollback."""
    consultation = world.accepted_with_expert(service="imaging")
    if act == "correct":
        services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑社区获得性肺炎")
    _seal(world, consultation)
    before = AuditEvent.objects.count()

    with pytest.raises(ApplicationError) as refused:
        attempt(world, consultation)

    assert refused.value.code == "JL-C8"
    event = _only_failure("record.change.refuse")
    assert AuditEvent.objects.count() == before + 1
    assert event.actor == getattr(world, actor)
    assert (event.object_type, event.object_id) == ("consultations.consultation", str(consultation.pk))
    assert event.details["act"] == act and "JL-C8 第三十七条" in event.details["reason"]
    assert event.facility_ids == sorted([world.inviting.pk, world.invited.pk])


def test_jl_c8_jl_a1_a_sealed_upload_refused_over_the_api_and_the_page_is_on_record(world, client):
    """JL-C8, JL-A1: the same refusal through the API (409) and the case page leaves one event each."""
    consultation = world.sent()
    _seal(world, consultation)
    api = APIClient()
    api.force_authenticate(world.clinician)

    response = api.post(f"/api/v1/consultations/{consultation.pk}/documents/", {"kind": "other", "title": "x", "file": pdf()})

    assert response.status_code == 409 and response.json()["code"] == "JL-C8"
    assert _only_failure("record.change.refuse").actor == world.clinician

    client.force_login(world.clinician)
    client.post(reverse("audit:sealed-access", args=[consultation.pk]), {"purpose": "补充资料"})
    response = client.post(
        reverse("consultations:document-upload", args=[consultation.pk]), {"document-kind": "other", "document-upload": pdf()}
    )

    assert response.status_code == 400 and "JL-C8 第三十七条" in response.content.decode()
    events = AuditEvent.objects.filter(event_type="record.change.refuse").order_by("sequence")
    assert [e.outcome for e in events] == ["failure", "failure"]
    assert events[1].details["act"] == "upload"
    assert not consultation.documents.filter(title="x").exists()


def test_jl_c8_jl_a1_a_sealed_read_without_purpose_is_refused_on_record(world):
    """JL-C8 (art. 37), JL-A1: a sealed record read over the API without ``?purpose=`` is refused (400)
    and the refusal is on record; with a purpose it is an ordinary ``record.view``."""
    consultation = world.sent()
    _seal(world, consultation)
    api = APIClient()
    api.force_authenticate(world.invited_coordinator)

    response = api.get(f"/api/v1/consultations/{consultation.pk}/")

    assert response.status_code == 400 and response.json()["code"] == "JL-C8"
    event = _only_failure("record.access.refuse")
    assert event.actor == world.invited_coordinator and event.object_id == str(consultation.pk)
    assert event.details["action"] == "view" and "purpose" in event.details["reason"]
    assert api.get(f"/api/v1/consultations/{consultation.pk}/", {"purpose": "调解"}).status_code == 200
    assert AuditEvent.objects.filter(event_type="record.access.refuse").count() == 1


def test_jl_f5_jl_a1_a_suspended_facility_trying_to_send_is_on_record(world):
    """JL-F5 (art. 34), JL-A1: a send while the invited facility is suspended is refused and on record."""
    consultation = world.ready(world.draft())
    suspension_report(actor=regulator("220000"), facility=world.invited, cause=SuspensionCause.REGULATOR_ORDER,
                      description="设备故障")

    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=consultation)

    assert refused.value.code == "JL-F5"
    event = _only_failure("facility.check.refuse")
    assert event.actor == world.coordinator and event.acting_facility_id == world.inviting.pk
    assert event.details["act"] == "send" and event.details["code"] == "JL-F5"


def test_jl_f5_jl_a1_a_suspended_facility_trying_to_accept_is_on_record(world):
    """JL-F5 (art. 34), JL-A1: the suspended invited facility cannot accept; the attempt is on record."""
    consultation = world.sent()
    suspension_report(actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.QUALITY_RISK,
                      description="存在医疗安全隐患")

    with pytest.raises(ApplicationError):
        services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)

    event = _only_failure("facility.check.refuse")
    assert event.details["act"] == "accept" and event.acting_facility_id == world.invited.pk


def test_jl_f3_jl_a1_a_send_without_an_agreement_is_on_record(world):
    """JL-F3 (art. 15), JL-A1: no agreement in force at send: refused with every reason, on record."""
    consultation = world.ready(world.draft())
    CooperationAgreement.objects.filter(inviting=world.inviting, invited=world.invited).update(
        valid_until=timezone.localdate() - timezone.timedelta(days=1)
    )

    with pytest.raises(ApplicationError) as refused:
        services.consultation_send(actor=world.coordinator, consultation=consultation)

    event = _only_failure("facility.check.refuse")
    assert any(r["rule"] == "JL-F3" for r in event.details["reasons"])
    assert event.details["reason"] == refused.value.message
    assert consultation.__class__.objects.get(pk=consultation.pk).state == "draft"


def test_jl_p4_jl_a1_a_qualification_failure_at_assign_is_on_record(world):
    """JL-P4 (art. 14.4), JL-A1: an expert below 副高 is refused at assign, and the check is on record."""
    from facilities.choices import Title
    from tests.factories import PhysicianFactory, RegistrationFactory

    consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=world.sent())
    junior = RegistrationFactory(facility=world.invited, physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN)).physician

    with pytest.raises(ApplicationError):
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=junior)

    event = _only_failure("physician.qualification.assign")
    assert any(c["rule"] == "JL-P4" and not c["passed"] for c in event.details["checks"])


def test_jl_f5_jl_a1_a_suspended_accept_over_the_api_is_on_record(world):
    """JL-F5, JL-A1: the API answers the suspension with the service's refusal, which is on record."""
    consultation = world.sent()
    suspension_report(actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.QUALITY_RISK,
                      description="存在医疗安全隐患")
    api = APIClient()
    api.force_authenticate(world.invited_coordinator)

    response = api.post(f"/api/v1/consultations/{consultation.pk}/accept/", {}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "JL-F5"
    assert _only_failure("facility.check.refuse").details["act"] == "accept"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_jl_c8_jl_a1_the_refusal_is_committed_in_its_own_transaction(world):
    """JL-C8, JL-A1: with no test transaction around it, the upload rolls back and the refusal commits."""
    from django.db import connection

    consultation = world.sent()
    _seal(world, consultation)
    documents = consultation.documents.count()

    with pytest.raises(ApplicationError):
        _upload(world, consultation)

    assert not connection.in_atomic_block
    assert _only_failure("record.change.refuse").details["act"] == "upload"
    assert consultation.documents.count() == documents
