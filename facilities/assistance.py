"""Credited assistance time (JL-O4, art. 46.4): "县级以上公立医疗机构医务人员参与完成远程医疗服务，作为对口帮扶
连续驻点时间25%计算".

Per physician, facility and Beijing year, from the consultation record:

- a consultation-type service (会诊类) counts its session — from the session's start to the signing of
  the opinion — for every physician on the case, the inviting side's attending physicians and the
  invited side's experts alike;
- a diagnosis-type service (诊断类) counts the standard time the provincial regulator set for one
  report of that type (``ServiceType.report_standard_minutes``) for the expert who signed it, once per
  case however many corrected versions followed;

and the year's total counts at 25 % (``rules.credited_minutes``) when the facility the work was done
for is a public one at county level or above (``rules.assistance_credit_check``). A service counts in
the year it was signed. Read-only: a selector, scoped like every list (JL-O1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, Q, Sum, When

from telemed.scope import Scope

from . import rules
from .choices import ServiceCategory, StaffRole
from .models import Facility, Physician, ServiceType

BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass
class CreditLine:
    physician_id: int
    physician_name: str
    facility_id: int
    facility_name: str
    sessions: int = 0
    session_minutes: int = 0
    reports: int = 0
    report_minutes: int = 0
    unpriced_reports: int = 0  # reports of a type whose standard time is not set yet
    eligible: bool = True
    reason: str = ""
    checks: list = field(default_factory=list)

    @property
    def work_minutes(self) -> int:
        return self.session_minutes + self.report_minutes

    @property
    def credited_minutes(self) -> int:
        return rules.credited_minutes(self.work_minutes) if self.eligible else 0


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(year, 1, 1, tzinfo=BEIJING), dt.datetime(year + 1, 1, 1, tzinfo=BEIJING)


def _reach(user, scope: Scope) -> tuple[list[int] | None, int | None]:
    """(facility ids whose lines the user sees — None for a whole division —, own physician id or None)."""
    own = Physician.objects.filter(user=user).values_list("pk", flat=True).first()
    if scope.is_regulator:
        return list(Facility.objects.visible_to(user).values_list("pk", flat=True)), own
    return list(scope.facilities_with_role(StaffRole.FACILITY_ADMIN)), own


def assistance_credit(*, user, year: int, facility_id: int | None = None) -> list[CreditLine]:
    """JL-O4: the year's lines the user may see — their facilities' (administrators, regulators) and their own."""
    from consultations.choices import Side
    from consultations.models import Opinion, Participant

    scope = Scope.of(user)
    facility_ids, own = _reach(user, scope)
    if facility_id is not None:
        facility_ids = [f for f in facility_ids if f == facility_id]
    start, end = year_bounds(year)
    signed = Q(consultation__signed_at__gte=start, consultation__signed_at__lt=end)

    sessions = (
        Participant.objects.filter(signed, consultation__session_started_at__isnull=False,
                                   consultation__service_type__category=ServiceCategory.OPINION)
        .annotate(facility=Case(When(side=Side.INVITED, then=F("consultation__invited_id")),
                                default=F("consultation__inviting_id")))
    )
    reports = Opinion.objects.filter(signed, consultation__service_type__category=ServiceCategory.DIAGNOSIS).annotate(
        facility=F("consultation__invited_id"), physician_id=F("signed_by_id"),
    )
    seen = Q(facility__in=facility_ids)
    if own is not None and facility_id is None:
        seen |= Q(physician_id=own)
    sessions, reports = sessions.filter(seen), reports.filter(seen)

    lines: dict[tuple[int, int], CreditLine] = {}

    def line(physician_id: int, facility: int) -> CreditLine:
        return lines.setdefault((physician_id, facility), CreditLine(physician_id, "", facility, ""))

    spent = ExpressionWrapper(F("consultation__signed_at") - F("consultation__session_started_at"), output_field=DurationField())
    for row in sessions.values("physician_id", "facility").annotate(n=Count("consultation_id", distinct=True), spent=Sum(spent)):
        entry = line(row["physician_id"], row["facility"])
        entry.sessions = row["n"]
        entry.session_minutes = max(0, int((row["spent"] or dt.timedelta()).total_seconds() // 60))
    standards = dict(ServiceType.objects.values_list("code", "report_standard_minutes"))
    for row in reports.values("physician_id", "facility", "consultation__service_type_id").annotate(
        n=Count("consultation_id", distinct=True)
    ):
        entry = line(row["physician_id"], row["facility"])
        standard = standards.get(row["consultation__service_type_id"])
        entry.reports += row["n"]
        if standard:
            entry.report_minutes += row["n"] * standard
        else:
            entry.unpriced_reports += row["n"]

    names = dict(Physician.objects.filter(pk__in={p for p, _f in lines}).values_list("pk", "name"))
    facilities = {f.pk: f for f in Facility.objects.filter(pk__in={f for _p, f in lines}).only("name", "kind", "public")}
    for (physician_id, facility), entry in lines.items():
        entry.physician_name = names.get(physician_id, "")
        place = facilities[facility]
        entry.facility_name = place.name
        check = rules.assistance_credit_check(kind=place.kind, public=place.public)
        entry.eligible, entry.reason, entry.checks = check.passed, check.text if not check.passed else "", [check]
    return sorted(lines.values(), key=lambda e: (e.facility_name, -e.work_minutes, e.physician_name, e.physician_id))


HEADERS = ("医师", "机构", "会诊（次）", "会诊时长（分钟）", "诊断报告（份）", "报告计入时长（分钟）", "远程医疗工作时长（分钟）",
           "计入对口帮扶驻点时间（分钟）", "说明")


def line_values(entry: CreditLine) -> list:
    note = entry.reason
    if entry.unpriced_reports:
        note = (note + "；" if note else "") + f"{entry.unpriced_reports} 份报告所属项目尚未设定标准时长"
    return [entry.physician_name, entry.facility_name, entry.sessions, entry.session_minutes, entry.reports,
            entry.report_minutes, entry.work_minutes, entry.credited_minutes, note]


def lines_xlsx(lines: list[CreditLine], *, year: int) -> bytes:
    """The report as a workbook a facility files with its assistance records; no cell can be a formula."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from telemed.text import spreadsheet_row

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{year}"
    sheet.append(spreadsheet_row([f"{year} 年远程医疗工作计入对口帮扶驻点时间（JL-O4 第四十六条第四项，按 25% 计算）"]))
    sheet.append(spreadsheet_row(list(HEADERS)))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for entry in lines:
        sheet.append(spreadsheet_row(line_values(entry)))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export_record(*, actor, year: int, facility_id: int | None, lines: int) -> None:
    """JL-O4 exports name people and their work: each one is on record (JL-A1)."""
    from django.db import transaction

    from audit.choices import EventType
    from audit.services import audit_event_append

    scope = Scope.of(actor)
    acting = facility_id if facility_id in scope.facility_roles else None
    with transaction.atomic():
        audit_event_append(
            actor=actor, event_type=EventType.ASSISTANCE_EXPORT, object_type="facilities.facility" if facility_id else "",
            object_id=str(facility_id or ""), acting_facility_id=acting,
            acting_division_code="" if acting else (scope.regulated[0][0] if scope.regulated else ""),
            facility_ids=[facility_id] if facility_id else [], details={"year": year, "lines": lines, "format": "xlsx"},
        )
