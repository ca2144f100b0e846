"""JL-O7 (art. 33, 34): the register of telemedicine equipment and software, its maintenance, and the
stop-and-report an essential entry's loss triggers, followed up until the licensing regulator lifts it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consultations.models import Notification
from facilities import equipment, rules
from facilities import services as facility_services
from facilities.choices import AssetStatus, StaffRole, SuspensionCause
from facilities.models import Suspension, TelemedicineAsset
from telemed.errors import ApplicationError
from tests.factories import FacilityFactory, division, regulator, staff

pytestmark = pytest.mark.frozen_at("2026-12-07T02:00:00Z")
TODAY = dt.date(2026, 12, 7)


def _terminal(world, *, essential=False, interval=180, since=dt.date(2025, 1, 10)):
    return equipment.asset_register(
        actor=world.invited_coordinator, facility=world.invited, kind="equipment", name="远程会诊终端",
        model_number="HD-900", essential=essential, in_service_since=since, maintenance_interval_days=interval,
    )


# --- The rules, pure -------------------------------------------------------------------------


def test_jl_o7_an_entry_needs_a_name_a_start_not_in_the_future_and_a_sane_period():
    failing = [c for c in rules.asset_checks(name=" ", in_service_since=TODAY + dt.timedelta(days=1), today=TODAY,
                                             maintenance_interval_days=0) if not c.passed]
    assert [c.rule for c in failing] == ["JL-O7"] * 3
    assert all(c.passed for c in rules.asset_checks(name="终端", in_service_since=TODAY, today=TODAY, maintenance_interval_days=None))


def test_jl_o7_the_next_maintenance_falls_due_one_period_after_the_last():
    assert rules.next_maintenance_due(since=dt.date(2026, 1, 31), interval_days=30) == dt.date(2026, 3, 2)
    assert rules.next_maintenance_due(since=dt.date(2026, 1, 31), interval_days=None) is None
    assert rules.maintenance_overdue(next_due=TODAY - dt.timedelta(days=1), status=AssetStatus.IN_SERVICE, today=TODAY)
    assert not rules.maintenance_overdue(next_due=TODAY, status=AssetStatus.IN_SERVICE, today=TODAY)
    assert not rules.maintenance_overdue(next_due=TODAY - dt.timedelta(days=9), status=AssetStatus.RETIRED, today=TODAY)


def test_jl_o7_an_essential_entry_leaves_service_only_with_a_report():
    [move, report] = rules.asset_status_checks(essential=True, current="in_service", new="faulty", report="")
    assert move.passed and not report.passed and report.article == "第三十四条"
    assert all(c.passed for c in rules.asset_status_checks(essential=False, current="in_service", new="faulty", report=""))
    [move, _report] = rules.asset_status_checks(essential=False, current="retired", new="in_service", report="")
    assert not move.passed  # a retired entry does not come back


# --- Services --------------------------------------------------------------------------------


def test_jl_o7_the_register_is_kept_by_the_facility_and_audited(world):
    asset = _terminal(world)
    assert asset.next_maintenance_due == dt.date(2025, 7, 9)
    event = AuditEvent.objects.get(event_type="facility.asset.register")
    assert event.object_id == str(asset.pk) and event.acting_facility_id == world.invited.pk
    with pytest.raises(ApplicationError) as refused:
        equipment.asset_register(actor=world.clinician, facility=world.invited, kind="software", name="PACS",
                                 in_service_since=TODAY)
    assert refused.value.status == 403 and "JL-O7" in refused.value.message
    assert AuditEvent.objects.filter(event_type="facility.asset.refuse", outcome="failure").count() == 1
    assert TelemedicineAsset.objects.count() == 1


def test_jl_o7_a_maintenance_moves_the_due_date_and_bad_dates_are_refused_on_record(world):
    asset = _terminal(world)
    equipment.asset_maintenance_record(actor=world.invited_coordinator, asset=asset, kind="routine",
                                       performed_on=dt.date(2026, 11, 30), performed_by="厂家工程师", description="清洁、固件检查")
    asset.refresh_from_db()
    assert asset.last_maintained_on == dt.date(2026, 11, 30) and asset.next_maintenance_due == dt.date(2027, 5, 29)
    for bad in (TODAY + dt.timedelta(days=1), dt.date(2024, 12, 31)):
        with pytest.raises(ApplicationError) as refused:
            equipment.asset_maintenance_record(actor=world.invited_coordinator, asset=asset, kind="repair",
                                               performed_on=bad, performed_by="x", description="y")
        assert refused.value.code == "JL-O7"
    # An older record added later does not move the due date back.
    equipment.asset_maintenance_record(actor=world.invited_coordinator, asset=asset, kind="inspection",
                                       performed_on=dt.date(2026, 6, 1), performed_by="计量所", description="校准")
    asset.refresh_from_db()
    assert asset.next_maintenance_due == dt.date(2027, 5, 29) and asset.maintenance.count() == 2
    assert AuditEvent.objects.filter(event_type="facility.asset.refuse").count() == 2


def test_jl_o7_an_essential_terminal_failing_stops_the_facility_and_reports_to_its_regulators(world):
    licensing = regulator("220000", username="province")
    county_elsewhere = regulator("220122", username="nong_an")
    asset = _terminal(world, essential=True)
    with pytest.raises(ApplicationError) as refused:
        equipment.asset_status_change(actor=world.invited_coordinator, asset=asset, status="faulty")
    assert "第三十四条" in refused.value.message
    assert not Suspension.objects.exists()

    equipment.asset_status_change(actor=world.invited_coordinator, asset=asset, status="faulty", report="主机板损坏，送修")
    suspension = Suspension.objects.get(facility=world.invited, lifted_at__isnull=True)
    assert suspension.cause == SuspensionCause.EQUIPMENT_CHANGE and "远程会诊终端" in suspension.description
    assert suspension.issuing_division_id == "220000"
    # The regulators over the facility are told at once; one of another county is not.
    assert Notification.objects.filter(user=licensing, link=reverse("facilities:suspension-detail", args=[suspension.pk])).exists()
    assert not Notification.objects.filter(user=county_elsewhere).exists()
    event = AuditEvent.objects.get(event_type="facility.asset.status")
    assert event.details["suspension"] == suspension.pk and event.details["to"] == "faulty"


def test_jl_o7_a_second_loss_while_suspended_is_a_follow_up_not_a_second_suspension(world):
    first = _terminal(world, essential=True)
    second = equipment.asset_register(actor=world.invited_coordinator, facility=world.invited, kind="software",
                                      name="会诊软件", essential=True, in_service_since=dt.date(2025, 1, 1))
    equipment.asset_status_change(actor=world.invited_coordinator, asset=first, status="faulty", report="故障")
    equipment.asset_status_change(actor=world.invited_coordinator, asset=second, status="retired", report="授权到期")
    suspension = Suspension.objects.get()
    assert [entry.text for entry in suspension.follow_ups.all()] == ["必要设备“会诊软件”已停用报废：授权到期"]


def test_jl_o7_follow_up_until_the_licensing_regulator_lifts_it(world):
    licensing = regulator("220000", username="province")
    outsider = regulator("220200", username="jilin_city")
    suspension = facility_services.suspension_report(
        actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.ADVERSE_OUTCOME, description="严重不良后果")
    entry = equipment.suspension_follow_up(actor=world.invited_coordinator, suspension=suspension, text="已成立调查组")
    assert not entry.by_regulator
    assert equipment.suspension_follow_up(actor=licensing, suspension=suspension, text="约谈院长").by_regulator
    with pytest.raises(ApplicationError) as refused:
        equipment.suspension_follow_up(actor=outsider, suspension=suspension, text="x")
    assert refused.value.status == 403
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        facility_services.suspension_lift(actor=licensing, suspension=suspension, reason="整改完成")
    with pytest.raises(ApplicationError) as closed:
        equipment.suspension_follow_up(actor=world.invited_coordinator, suspension=suspension, text="迟到的记录")
    assert closed.value.code == "JL-O7" and "办结" in closed.value.message
    assert AuditEvent.objects.filter(event_type="facility.suspension.follow_up", outcome="failure").count() == 2
    assert suspension.follow_ups.count() == 2


def test_jl_f5_lifting_tells_the_facility_at_once(world):
    """JL-F5/JL-O7 (art. 34), issue 10: the stop-and-report's other side — when the licensing regulator
    lifts the suspension, the facility's administrators and coordinators are notified."""
    licensing = regulator("220000", username="province")
    suspension = facility_services.suspension_report(
        actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.ADVERSE_OUTCOME, description="严重不良后果")
    assert not Notification.objects.filter(message_key="facility.suspension_lifted").exists()
    facility_services.suspension_lift(actor=licensing, suspension=suspension, reason="整改完成")
    told = Notification.objects.get(message_key="facility.suspension_lifted")
    assert told.user == world.invited_coordinator and told.link == reverse("facilities:suspension-detail", args=[suspension.pk])
    assert "整改完成" in told.text and "可以恢复服务" in told.title


def test_jl_f5_a_refused_lift_is_on_record(world):
    """JL-F5 (art. 34), JL-A1: a regulator who did not issue the licence, or the facility itself, trying to
    lift a suspension is refused — and the refusal is an audit event, not only an error."""
    county = regulator("220122", username="nong_an")
    suspension = facility_services.suspension_report(
        actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.ADVERSE_OUTCOME, description="严重不良后果")
    for actor in (county, world.invited_coordinator):
        with pytest.raises(ApplicationError) as refused:
            facility_services.suspension_lift(actor=actor, suspension=suspension, reason="整改完成")
        assert refused.value.status == 403 and refused.value.code == "JL-F5"
    events = AuditEvent.objects.filter(event_type="facility.suspension.lift", outcome="failure").order_by("sequence")
    assert [e.actor_id for e in events] == [county.pk, world.invited_coordinator.pk]
    assert events[0].details["code"] == "JL-F5" and events[0].object_id == str(suspension.pk)
    suspension.refresh_from_db()
    assert suspension.lifted_at is None


def test_jl_o7_the_register_page_says_an_essential_stop_suspended_and_reported_and_links_the_report(client, world):
    """JL-O7 (art. 34), issue 10: "状态已变更" hid that the facility had just stopped — the page now says
    it is suspended and reported, and links the report while the suspension lasts."""
    asset = _terminal(world, essential=True)
    client.force_login(world.invited_coordinator)
    response = client.post(reverse("facilities:asset-detail", args=[asset.pk]), {
        "form": "status", "status-status": "faulty", "status-report": "主机板损坏，送修"}, follow=True)
    suspension = Suspension.objects.get(facility=world.invited, lifted_at__isnull=True)
    page = response.content.decode()
    assert "的远程医疗服务已立即暂停，并已报告" in page and "JL-O7 第三十四条" in page
    assert reverse("facilities:suspension-detail", args=[suspension.pk]) in page and "查看暂停报告" in page


# --- Pages and API ---------------------------------------------------------------------------


def test_jl_o7_pages_keep_the_register_and_show_overdue_maintenance(client, world):
    asset = _terminal(world, interval=30, since=dt.date(2026, 10, 1))  # due 2026-10-31: overdue
    client.force_login(world.invited_coordinator)
    page = client.get(reverse("facilities:asset-list"))
    assert page.status_code == 200 and "远程会诊终端" in page.content.decode() and "逾期" in page.content.decode()
    response = client.post(reverse("facilities:asset-detail", args=[asset.pk]), {
        "form": "maintenance", "maintenance-kind": "routine", "maintenance-performed_on": "2026-12-05",
        "maintenance-performed_by": "信息科", "maintenance-description": "更换摄像头",
    })
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.next_maintenance_due == dt.date(2027, 1, 4)
    refused = client.post(reverse("facilities:asset-detail", args=[asset.pk]), {
        "form": "maintenance", "maintenance-kind": "routine", "maintenance-performed_on": "2027-01-01",
        "maintenance-performed_by": "信息科", "maintenance-description": "未来",
    })
    assert refused.status_code == 400 and "JL-O7 第三十三条" in refused.content.decode()
    assert "未来" in refused.content.decode()  # the input stays in the form


def test_jl_o7_the_register_is_scoped(client, world):
    asset = _terminal(world)
    other = FacilityFactory(name="延边医院", division=division("222401"), licence_issuer=division("222400"))
    client.force_login(staff(other, StaffRole.FACILITY_ADMIN))
    assert client.get(reverse("facilities:asset-detail", args=[asset.pk])).status_code == 404
    assert "远程会诊终端" not in client.get(reverse("facilities:asset-list")).content.decode()
    client.force_login(regulator("220100"))  # the city over the invited facility's district
    assert client.get(reverse("facilities:asset-detail", args=[asset.pk])).status_code == 200


def test_jl_o7_api_registers_maintains_and_stops(client, world, django_assert_max_num_queries):
    client.force_login(world.invited_coordinator)
    created = client.post(reverse("facilities-api:asset-list"), {
        "facility": world.invited.pk, "kind": "equipment", "name": "视频会诊终端", "essential": True,
        "in_service_since": "2026-01-05", "maintenance_interval_days": 90,
    }, content_type="application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    bad = client.post(reverse("facilities-api:asset-maintenance", args=[pk]), {
        "kind": "repair", "performed_on": "2025-12-31", "performed_by": "厂家", "description": "x"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "JL-O7"
    refused = client.post(reverse("facilities-api:asset-set-status", args=[pk]), {"status": "faulty"}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["code"] == "JL-O7"
    stopped = client.post(reverse("facilities-api:asset-set-status", args=[pk]), {"status": "faulty", "report": "屏幕损坏"},
                          content_type="application/json")
    assert stopped.status_code == 200 and stopped.json()["status"] == "faulty"
    suspension = Suspension.objects.get(facility=world.invited)
    follow = client.post(reverse("facilities-api:suspension-follow-ups", args=[suspension.pk]), {"text": "已联系厂家"},
                         content_type="application/json")
    assert follow.status_code == 201 and follow.json()["by_regulator"] is False
    assert [e["text"] for e in client.get(reverse("facilities-api:suspension-follow-ups", args=[suspension.pk])).json()] == ["已联系厂家"]
    for n in range(3):
        equipment.asset_register(actor=world.invited_coordinator, facility=world.invited, kind="software", name=f"软件{n}",
                                 in_service_since=dt.date(2026, 1, 1))
    with django_assert_max_num_queries(12):
        listed = client.get(reverse("facilities-api:asset-list"))
    assert listed.status_code == 200 and listed.json()["count"] == 4


def test_jl_o7_suspension_page_takes_follow_up_from_the_regulator_and_shows_closure(client, world):
    licensing = regulator("220000", username="province")
    suspension = facility_services.suspension_report(
        actor=world.invited_coordinator, facility=world.invited, cause=SuspensionCause.QUALITY_RISK, description="网络中断")
    client.force_login(licensing)
    url = reverse("facilities:suspension-detail", args=[suspension.pk])
    assert client.post(url, {"text": "要求三日内书面报告"}).status_code == 302
    page = client.get(url).content.decode()
    assert "要求三日内书面报告" in page and "监管部门" in page and "解除暂停" in page
    facility_services.suspension_lift(actor=licensing, suspension=suspension, reason="已恢复")
    page = client.get(url).content.decode()
    assert "已解除（办结）" in page and 'name="text"' not in page
    assert "解除人" in page and licensing.get_full_name() in page  # issue 10: who lifted it, not only when
    client.force_login(regulator("222400"))  # 延边州: not over this facility
    assert client.get(url).status_code == 404
