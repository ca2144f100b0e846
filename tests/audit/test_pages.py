"""Pages of medical records under the law: responsibility (JL-C7), sealing (JL-C8), chain (JL-A1)."""

import pytest
from django.db import connection
from django.urls import reverse

from audit import records
from audit.models import AuditEvent, Seal, VerificationRun
from audit.selectors import SEALED_ACCESS_KEY, sealed_access_needed
from consultations import services
from facilities.choices import AdminRole, StaffRole
from tests.factories import FacilityFactory, administrator, division, regulator, staff

pytestmark = pytest.mark.django_db

PARTIES = dict(inviting_party_name="王主任", inviting_party_role="邀请方医务科科长", invited_party_name="张某", invited_party_role="患者之子")


def url(name, *args):
    return reverse(f"audit:{name}", args=args)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def last_event(event_type: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_type=event_type).order_by("-sequence").first()


def raw_tamper(sql: str, params) -> None:
    """Change a row behind the ORM's back (on PostgreSQL, past the append-only trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.fixture
def signed(world):
    """A consultation accepted (first responsibility record) and signed (second)."""
    consultation = world.accepted_with_expert()
    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=consultation.created_at, video_link="https://meet.example/1")
    services.consultation_start_session(actor=world.invited_coordinator, consultation=consultation)
    services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑结核性胸膜炎，建议胸腔积液检查")
    return consultation


# --- JL-C7: responsibility ----------------------------------------------------------------------


def test_jl_c7_responsibility_page_lists_records_in_order_with_the_acts_under_each(world, signed, client):
    client.force_login(world.coordinator)
    page = html(client.get(url("responsibility-detail", signed.pk)))
    accepted, signed_at = page.index("受理时责任认定"), page.index("签发时责任认定")
    assert page.index("受理之前") < accepted < signed_at
    assert page.count("JL-C7 第二十八条") == 2
    assert "承担诊疗责任；受邀方意见作为诊疗的重要参考依据" in page
    # Acts fall under the record they were done under, with actor and facility.
    before, under_accept, under_sign = page[:accepted], page[accepted:signed_at], page[signed_at:]
    assert "consultation.send" in before and "consultation.create" in before
    assert "consultation.accept" in under_accept and "consultation.schedule" in under_accept
    assert "opinion.sign" in under_sign and "consultation.accept" not in under_sign
    assert "（invited_coordinator）" in under_accept and "吉林大学第一医院" in under_accept
    # The JL-P checks run at signing are on the consultation too, just before the signature's record.
    assert "专家资质核验（签发）" in under_accept and "受理时医师资质核验" not in page


def test_jl_c8_viewing_the_responsibility_page_is_an_access_on_record(world, signed, client):
    client.force_login(world.invited_coordinator)
    html(client.get(url("responsibility-detail", signed.pk)))
    event = last_event("record.view")
    assert event.actor_id == world.invited_coordinator.pk and event.acting_facility_id == world.invited.pk
    assert event.details["consultation"] == signed.number and event.details["page"] == "responsibility"
    assert event.details["patient_id"] == signed.patient_id and event.channel == "web"


def test_jl_o1_responsibility_outside_scope_is_404(world, signed, client):
    client.force_login(regulator("220200"))  # 吉林市: neither facility is theirs
    assert client.get(url("responsibility-detail", signed.pk)).status_code == 404
    client.force_login(staff(FacilityFactory(), StaffRole.COORDINATOR))
    assert client.get(url("responsibility-detail", signed.pk)).status_code == 404
    client.logout()
    assert client.get(url("responsibility-detail", signed.pk)).status_code == 302


def test_jl_o1_regulator_lists_responsibility_by_facility_within_their_division(world, signed, client):
    client.force_login(regulator("220100"))
    page = html(client.get(url("responsibility-list"), {"facility": world.inviting.pk}))
    assert signed.number in page and page.count(signed.number) == 2
    listed = last_event("record.list")
    assert listed.object_type == "consultations.responsibilityrecord" and listed.details["object_ids"] == [signed.pk]
    assert listed.details["filters"] == {"facility": world.inviting.pk}
    client.force_login(regulator("220200"))
    assert signed.number not in html(client.get(url("responsibility-list")))


def test_responsibility_page_query_count_does_not_grow_with_acts(world, signed, client, django_assert_max_num_queries):
    client.force_login(world.coordinator)
    with django_assert_max_num_queries(30) as first:
        html(client.get(url("responsibility-detail", signed.pk)))
    for _ in range(5):
        records.record_access(actor=world.clinician, action="view", consultation=signed)
    with django_assert_max_num_queries(30) as second:
        html(client.get(url("responsibility-detail", signed.pk)))
    assert len(first.captured_queries) == len(second.captured_queries)


# --- JL-C8: sealing -----------------------------------------------------------------------------


def test_jl_c8_coordinator_seals_from_the_form_and_sees_the_hash_and_an_intact_record(world, client):
    consultation = world.sent()
    client.force_login(world.coordinator)
    assert "双方在场人" in html(client.get(url("seal-create", consultation.pk)))
    response = client.post(url("seal-create", consultation.pk), {"reason": "患方对诊断有异议", **PARTIES})
    seal = Seal.objects.get(consultation=consultation)
    assert response.status_code == 302 and response["Location"] == url("seal-detail", seal.pk)
    page = html(client.get(response["Location"]))
    assert seal.snapshot_sha256 in page and 'data-verify="intact"' in page
    assert "王主任（邀请方医务科科长）" in page and "张某（患者之子）" in page and "封存中" in page
    assert "尚未启封" in page and url("seal-release", seal.pk) in page


def test_jl_c8_seal_refusals_are_shown_on_the_form_keeping_the_input(world, client):
    consultation = world.sent()
    client.force_login(world.coordinator)
    page = html(client.post(url("seal-create", consultation.pk), {"reason": "争议", **{**PARTIES, "invited_party_role": ""}}))
    assert "JL-C8 第三十七条: 须记录双方在场人的姓名和身份。" in page
    assert 'value="王主任"' in page and "争议</textarea>" in page
    assert not Seal.objects.exists()
    client.force_login(world.clinician)
    response = client.post(url("seal-create", consultation.pk), {"reason": "争议", **PARTIES})
    assert response.status_code == 403 and "封存、启封由双方远程医疗管理人员或卫生健康行政部门办理" in response.content.decode()
    client.force_login(regulator("220100"))
    assert client.post(url("seal-create", consultation.pk), {"reason": "卫健委调查", **PARTIES}).status_code == 302
    client.force_login(world.invited_coordinator)
    page = html(client.post(url("seal-create", consultation.pk), {"reason": "再次", **PARTIES}))
    assert "该病历已处于封存状态" in page


def test_jl_c8_seal_page_shows_what_changed_behind_the_portals_back(world, client):
    consultation = world.sent()
    seal = records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    raw_tamper("UPDATE consultations_document SET sha256 = %s WHERE id = %s", ["f" * 64, consultation.documents.first().pk])
    client.force_login(regulator("220000"))
    page = html(client.get(url("seal-detail", seal.pk)))
    assert 'data-verify="changed"' in page and '<li class="mono">documents</li>' in page
    event = last_event("record.view")
    assert event.object_type == "audit.seal" and event.object_id == str(seal.pk) and event.details["sealed"] is True


def test_jl_c8_unseal_needs_both_parties_again_and_is_shown_on_the_seal(world, client):
    consultation = world.sent()
    seal = records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    client.force_login(world.invited_coordinator)
    page = html(client.post(url("seal-release", seal.pk), {"reason": "调解完毕", **{**PARTIES, "inviting_party_name": ""}}))
    assert "须记录双方在场人的姓名和身份" in page and records.is_sealed(consultation.pk)
    session = client.session
    session[SEALED_ACCESS_KEY] = [consultation.pk]
    session.save()
    response = client.post(url("seal-release", seal.pk), {"reason": "调解完毕", **{**PARTIES, "inviting_party_name": "李科长"}})
    assert response.status_code == 302 and not records.is_sealed(consultation.pk)
    assert client.session[SEALED_ACCESS_KEY] == []
    page = html(client.get(url("seal-detail", seal.pk)))
    assert "已启封" in page and "调解完毕" in page and "李科长（邀请方医务科科长）" in page
    assert url("seal-release", seal.pk) not in page
    assert client.get(url("seal-release", seal.pk)).status_code == 302  # nothing left to unseal


def test_jl_c8_seal_list_is_scoped(world, client):
    consultation = world.sent()
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    client.force_login(regulator("220100"))
    assert consultation.number in html(client.get(url("seal-list")))
    client.force_login(regulator("220200"))
    assert consultation.number not in html(client.get(url("seal-list")))
    assert client.get(url("seal-detail", Seal.objects.get().pk)).status_code == 404


def test_jl_c8_a_sealed_record_asks_for_a_purpose_logs_it_and_remembers_it_for_the_session(world, client):
    consultation = world.sent()
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    client.force_login(world.invited_coordinator)
    target = url("responsibility-detail", consultation.pk)
    response = client.get(target)
    assert response.status_code == 302 and response["Location"].startswith(url("sealed-access", consultation.pk))
    assert sealed_access_needed(session=client.session, consultation_id=consultation.pk)
    page = html(client.post(url("sealed-access", consultation.pk), {"purpose": "  ", "next": target}))
    assert "调阅封存病历须写明目的" in page
    views_before = AuditEvent.objects.filter(event_type="record.view").count()
    response = client.post(url("sealed-access", consultation.pk), {"purpose": "医疗纠纷调解准备", "next": target})
    assert response.status_code == 302 and response["Location"] == target
    event = last_event("record.view")
    assert AuditEvent.objects.filter(event_type="record.view").count() == views_before + 1
    assert event.details["purpose"] == "医疗纠纷调解准备" and event.details["sealed"] is True
    assert event.actor_id == world.invited_coordinator.pk and event.acting_facility_id == world.invited.pk
    assert client.session[SEALED_ACCESS_KEY] == [consultation.pk]
    assert not sealed_access_needed(session=client.session, consultation_id=consultation.pk)
    assert "已封存" in html(client.get(target))


def test_jl_c8_sealed_access_goes_only_to_this_site_and_skips_unsealed_records(world, client):
    consultation = world.sent()
    client.force_login(world.coordinator)
    case = reverse("consultations:detail", args=[consultation.pk])
    assert client.get(url("sealed-access", consultation.pk))["Location"] == case  # not sealed: nothing to state
    records.seal_create(actor=world.coordinator, consultation=consultation, reason="争议", **PARTIES)
    response = client.post(url("sealed-access", consultation.pk), {"purpose": "复核", "next": "https://evil.example/"})
    assert response["Location"] == case


# --- JL-A1: chain verification ----------------------------------------------------------------


@pytest.fixture
def eager_celery():
    from telemed.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_jl_a1_chain_page_is_for_the_audit_administrator_and_regulators(client):
    """JL-A1, JL-A2 三员分立: the audit administrator verifies the chain; the system and security
    administrators, like staff, do not."""
    facility = FacilityFactory(division=division("220102"))
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    assert client.get(url("chain")).status_code == 403
    assert client.post(url("chain")).status_code == 403
    for role in (AdminRole.SYSTEM, AdminRole.SECURITY):
        client.force_login(administrator(role, username=f"x_{role}"))
        assert client.get(url("chain")).status_code == 403
    client.force_login(administrator(AdminRole.AUDIT, username="ops"))
    assert "尚未在后台校验过" in html(client.get(url("chain")))


def test_jl_a1_chain_page_runs_a_verification_and_shows_intact_then_the_broken_sequence(
    world, client, eager_celery, django_capture_on_commit_callbacks
):
    world.sent()
    client.force_login(regulator("220000"))
    events_before = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("chain"))
    assert response.status_code == 302
    run = VerificationRun.objects.get()
    assert run.state == VerificationRun.State.DONE and run.intact is True
    page = html(client.get(url("chain")))
    assert 'data-result="intact"' in page and "完整" in page
    assert run.checked == events_before + 1  # the request is itself an event, checked with the rest
    assert f"<span data-checked>{run.checked}</span>" in page
    assert 'http-equiv="refresh"' not in page

    victim = AuditEvent.objects.filter(event_type="consultation.send").get()
    raw_tamper("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"consultation": "forged"}', victim.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("chain"))
    page = html(client.get(url("chain")))
    assert f"在第 {victim.sequence} 号事件处断开" in page and "内容被改动" in page
    assert last_event("audit.chain.verify").details["broken_sequence"] == victim.sequence


def test_jl_a1_chain_page_refreshes_itself_while_a_run_is_queued(world, client):
    client.force_login(regulator("220100"))
    client.post(url("chain"))  # on_commit never fires inside the test transaction: the run stays queued
    page = html(client.get(url("chain")))
    assert 'http-equiv="refresh" content="2"' in page and 'data-state="queued"' in page
    assert "<span data-percent>0%</span>" in page and "disabled" in page
