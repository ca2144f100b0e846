"""JL-O4 (art. 46.4): telemedicine work credited at 25 % toward on-site assistance (对口帮扶驻点) time,
per physician and Beijing year — sessions from the consultation record, reports at the province's
standard time, only for public facilities at county level and above; page, Excel export, API, scope."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from audit.models import AuditEvent
from consultations import services as consultation_services
from facilities import rules
from facilities.assistance import assistance_credit
from facilities.choices import StaffRole
from facilities.models import ServiceType
from facilities.services import service_type_standard_set
from telemed.errors import ApplicationError
from tests.factories import regulator, staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The world's agreement starts a month before "now": every case below falls inside it.
pytestmark = pytest.mark.frozen_at("2027-01-20T02:00:00Z")


def _session(world, *, start: dt.datetime, minutes: int):
    """A consultation (会诊类) whose session starts at ``start`` (Beijing) and is signed ``minutes`` later."""
    with time_machine.travel(start - dt.timedelta(hours=2), tick=False):
        consultation = world.accepted_with_expert(service="consultation")
        consultation_services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                                    scheduled_for=start, video_link="https://meet.example.cn/room-1")
    with time_machine.travel(start, tick=False):
        consultation_services.consultation_start_session(actor=world.expert, consultation=consultation)
    with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
        consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="会诊意见")
    return consultation


def _report(world, *, at: dt.datetime, corrected=False):
    with time_machine.travel(at, tick=False):
        consultation = world.accepted_with_expert(service="imaging", wanted_scope="imaging")
        first = consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="影像诊断报告")
        if corrected:
            consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="更正后的报告",
                                               corrects=first, correction_reason="补充描述")
    return consultation


def _line(lines, physician):
    return next(line for line in lines if line.physician_id == physician.pk)


def test_jl_o4_the_credit_is_a_quarter_rounded_down_and_only_for_county_level_public_facilities():
    assert rules.credited_minutes(90) == 22 and rules.credited_minutes(0) == 0 and rules.credited_minutes(-5) == 0
    assert rules.assistance_credit_check(kind="general", public=True).passed
    assert not rules.assistance_credit_check(kind="general", public=False).passed
    assert not rules.assistance_credit_check(kind="township", public=True).passed
    assert rules.report_standard_check(category="diagnosis", minutes=30).passed
    assert not rules.report_standard_check(category="diagnosis", minutes=0).passed
    assert not rules.report_standard_check(category="opinion", minutes=30).passed


def test_jl_o4_sessions_count_for_both_sides_and_reports_at_the_standard_time(world):
    province = regulator("220000")
    service_type_standard_set(actor=province, service_type=ServiceType.objects.get(code="imaging"), minutes=30)
    _session(world, start=dt.datetime(2027, 1, 5, 9, 0, tzinfo=SHANGHAI), minutes=50)
    _session(world, start=dt.datetime(2027, 1, 8, 14, 0, tzinfo=SHANGHAI), minutes=40)
    _report(world, at=dt.datetime(2027, 1, 12, 10, 0, tzinfo=SHANGHAI), corrected=True)  # a correction is not new work
    _report(world, at=dt.datetime(2027, 1, 15, 10, 0, tzinfo=SHANGHAI))
    lines = assistance_credit(user=province, year=2027)
    expert = _line(lines, world.expert_physician)
    assert (expert.sessions, expert.session_minutes, expert.reports, expert.report_minutes) == (2, 90, 2, 60)
    assert (expert.work_minutes, expert.credited_minutes) == (150, 37)
    attending = _line(lines, world.attending)  # the inviting side's attending physician was in both sessions
    assert (attending.sessions, attending.session_minutes, attending.reports) == (2, 90, 0)
    assert attending.facility_id == world.inviting.pk and expert.facility_id == world.invited.pk


def test_jl_o4_a_service_counts_in_the_beijing_year_it_was_signed(world):
    province = regulator("220000")
    # Starts 23:30 on 31 December 2026 in Beijing, signed 00:20 on 1 January 2027: it belongs to 2027
    # (in UTC it is still 31 December).
    _session(world, start=dt.datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI), minutes=50)
    assert _line(assistance_credit(user=province, year=2027), world.expert_physician).session_minutes == 50
    assert assistance_credit(user=province, year=2026) == []


def test_jl_o4_an_unset_standard_counts_nothing_and_says_so(world):
    _report(world, at=dt.datetime(2027, 1, 12, 10, 0, tzinfo=SHANGHAI))
    expert = _line(assistance_credit(user=regulator("220000"), year=2027), world.expert_physician)
    assert (expert.reports, expert.report_minutes, expert.unpriced_reports, expert.credited_minutes) == (1, 0, 1, 0)


def test_jl_o4_work_for_a_private_or_primary_facility_is_not_credited(world):
    _session(world, start=dt.datetime(2027, 1, 5, 9, 0, tzinfo=SHANGHAI), minutes=60)
    world.inviting.public = False
    world.inviting.save()
    lines = assistance_credit(user=regulator("220000"), year=2027)
    attending = _line(lines, world.attending)
    assert not attending.eligible and attending.credited_minutes == 0 and "JL-O4" in attending.reason
    assert _line(lines, world.expert_physician).credited_minutes == 15


def test_jl_o4_only_the_province_sets_the_standard_and_it_is_on_record(world):
    imaging = ServiceType.objects.get(code="imaging")
    with pytest.raises(ApplicationError) as refused:
        service_type_standard_set(actor=regulator("220100"), service_type=imaging, minutes=30)
    assert refused.value.status == 403 and "JL-O4" in refused.value.message
    with pytest.raises(ApplicationError) as refused:
        service_type_standard_set(actor=regulator("220000"), service_type=ServiceType.objects.get(code="consultation"), minutes=30)
    assert refused.value.code == "JL-O4"
    service_type_standard_set(actor=regulator("220000", username="prov2"), service_type=imaging, minutes=25)
    event = AuditEvent.objects.get(event_type="facility.service_type.standard")
    assert event.details["minutes"] == 25 and event.details["before"] is None


def test_jl_o4_scope_a_physician_sees_their_own_line_an_administrator_their_facility(world):
    _session(world, start=dt.datetime(2027, 1, 5, 9, 0, tzinfo=SHANGHAI), minutes=60)
    assert [line.physician_id for line in assistance_credit(user=world.expert, year=2027)] == [world.expert_physician.pk]
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    assert {line.physician_id for line in assistance_credit(user=admin, year=2027)} == {world.expert_physician.pk}
    assert assistance_credit(user=regulator("222400"), year=2027) == []  # 延边州: neither facility
    assert {line.physician_id for line in assistance_credit(user=regulator("220100"), year=2027)} == {
        world.expert_physician.pk, world.attending.pk}


def test_jl_o4_page_export_and_api(client, world):
    _session(world, start=dt.datetime(2027, 1, 5, 9, 0, tzinfo=SHANGHAI), minutes=60)
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    client.force_login(admin)
    page = client.get(reverse("facilities:assistance"), {"year": "2027"})
    assert page.status_code == 200 and world.expert_physician.name in page.content.decode()
    assert client.get(reverse("facilities:assistance"), {"year": "1999"}).status_code == 400
    export = client.get(reverse("facilities:assistance"), {"year": "2027", "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == "医师" and rows[2][0] == world.expert_physician.name and rows[2][7] == 15
    assert AuditEvent.objects.filter(event_type="assistance.export", actor=admin).count() == 1
    api = client.get(reverse("facilities-api:assistance-credit"), {"year": "2027"})
    assert api.status_code == 200 and api.json()["results"][0]["credited_minutes"] == 15
    bad = client.get(reverse("facilities-api:assistance-credit"), {"year": "abc"})
    assert bad.status_code == 400 and bad.json()["code"] == "year_invalid"


def test_jl_o4_the_province_sets_the_standard_on_its_page(client, world):
    client.force_login(regulator("220000"))
    url = reverse("facilities:service-type-standard", args=["imaging"])
    assert client.post(url, {"report_standard_minutes": "0"}).status_code == 400
    assert client.post(url, {"report_standard_minutes": "20"}).status_code == 302
    assert ServiceType.objects.get(code="imaging").report_standard_minutes == 20
    client.force_login(regulator("220100", username="city"))
    assert client.get(url).status_code == 403
