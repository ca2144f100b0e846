"""JL-C8 sealing, the access log service, and that nothing clinical can be deleted."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory

from audit import records
from audit.models import AuditEvent
from consultations import services
from telemed.errors import ApplicationError
from tests.factories import UserFactory, pdf, regulator

pytestmark = pytest.mark.django_db

PARTIES = dict(inviting_party_name="王主任", inviting_party_role="邀请方医务科科长", invited_party_name="张某", invited_party_role="患者之子")


def test_jl_c8_seal_freezes_the_record_through_every_service(world):
    consultation = world.accepted_with_expert(service="imaging")
    seal = records.seal_create(actor=world.coordinator, consultation=consultation, reason="患方对诊断报告有异议", **PARTIES)
    assert records.is_sealed(consultation.pk) and len(seal.snapshot_sha256) == 64
    attempts = [
        lambda: services.opinion_sign(actor=world.expert, consultation=consultation, content="报告"),
        lambda: services.document_upload(actor=world.clinician, consultation=consultation, kind="other", title="x", upload=pdf()),
        lambda: services.consultation_cancel(actor=world.coordinator, consultation=consultation, reason="x"),
        lambda: services.consultation_return_material(actor=world.invited_coordinator, consultation=consultation, reason="x"),
        lambda: services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician),
        lambda: services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation, scheduled_for=consultation.created_at, video_link="https://meet.example.cn/x"),
    ]
    for attempt in attempts:
        with pytest.raises(ApplicationError) as refused:
            attempt()
        assert refused.value.code == "JL-C8" and "封存" in refused.value.message
    assert records.seal_verify(seal).intact


def test_jl_c8_snapshot_catches_a_change_behind_the_portals_back(world):
    consultation = world.sent()
    seal = records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    document = consultation.documents.first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consultations_document SET sha256 = %s WHERE id = %s", ["f" * 64, document.pk])
    verification = records.seal_verify(seal)
    assert not verification.intact and verification.differences == ["documents"]


def test_jl_c8_sealing_and_unsealing_need_both_parties_and_the_right_people(world):
    consultation = world.sent()
    with pytest.raises(ApplicationError) as missing:
        records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **{**PARTIES, "invited_party_name": " "})
    assert missing.value.code == "JL-C8"
    with pytest.raises(ApplicationError) as clinician:
        records.seal_create(actor=world.clinician, consultation=consultation, reason="争议", **PARTIES)
    assert clinician.value.status == 403
    with pytest.raises(ApplicationError):
        records.seal_create(actor=regulator("220200"), consultation=consultation, reason="争议", **PARTIES)
    seal = records.seal_create(actor=regulator("220100"), consultation=consultation, reason="卫健委调查", **PARTIES)
    with pytest.raises(ApplicationError):
        records.seal_release(actor=world.coordinator, seal=seal, reason="调解完毕", **{**PARTIES, "inviting_party_role": ""})
    records.seal_release(actor=world.invited_coordinator, seal=seal, reason="调解完毕", **PARTIES)
    assert not records.is_sealed(consultation.pk)
    events = list(AuditEvent.objects.filter(event_type__in=["record.seal", "record.unseal"]).order_by("sequence"))
    assert [e.event_type for e in events] == ["record.seal", "record.unseal"]
    assert events[1].details["snapshot_intact"] is True and len(events[1].details["parties"]) == 2
    services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)  # writable again


def test_jl_c8_access_is_logged_with_purpose_and_sealed_flag(world):
    consultation = world.sent()
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    event = records.record_access(actor=world.invited_coordinator, action="view", consultation=consultation, purpose="调解准备")
    assert event.event_type == "record.view" and event.acting_facility_id == world.invited.pk
    assert event.details["sealed"] is True and event.details["purpose"] == "调解准备"
    assert event.details["patient_id"] == consultation.patient_id
    with pytest.raises(ValueError):
        records.record_access(actor=world.clinician, action="peek", consultation=consultation)


def test_jl_c8_nothing_clinical_financial_or_audited_can_be_deleted_in_the_admin():
    operator = UserFactory(username="op", is_superuser=True, is_staff=True)
    request = RequestFactory().get("/admin/")
    request.user = operator
    guarded = [m for m in admin.site._registry if m._meta.app_label in {"consultations", "audit", "billing", "facilities"}]
    assert len(guarded) >= 20
    for model in guarded:
        model_admin = admin.site._registry[model]
        assert model_admin.has_delete_permission(request) is False, model
        assert "delete_selected" not in model_admin.get_actions(request), model


def test_jl_c8_services_never_delete_records():
    """No write path deletes: the services of the record-keeping apps contain no delete call."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*root.glob("consultations/services/*.py"), *root.glob("billing/services/*.py"), root / "facilities/services.py",
                 root / "audit/services.py", root / "audit/records.py"]:
        assert ".delete(" not in path.read_text(encoding="utf-8"), path


def test_jl_c8_a_sealed_record_cannot_be_changed_through_the_api_or_the_pages(world, client):
    from django.urls import reverse
    from rest_framework.test import APIClient

    from consultations.models import Consultation

    consultation = world.sent()
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)

    api = APIClient()
    api.force_authenticate(world.invited_coordinator)
    response = api.post(f"/api/v1/consultations/{consultation.pk}/accept/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "JL-C8"
    upload = APIClient()
    upload.force_authenticate(world.clinician)
    response = upload.post(f"/api/v1/consultations/{consultation.pk}/documents/", {"kind": "other", "title": "x", "file": pdf()})
    assert response.status_code == 409 and response.json()["code"] == "JL-C8"

    client.force_login(world.invited_coordinator)
    client.post(reverse("audit:sealed-access", args=[consultation.pk]), {"purpose": "核对"})
    response = client.post(reverse("consultations:accept", args=[consultation.pk]), {})
    assert response.status_code in (400, 409) or response.status_code == 302
    assert Consultation.objects.get(pk=consultation.pk).state == "sent"
    assert not AuditEvent.objects.filter(event_type="consultation.accept").exists()
