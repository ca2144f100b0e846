"""The credit record of a facility (JL-O6 信用记录): dated, sourced entries and the grade they give.

Each source is one function in ``SOURCES``. A source takes the facility ids of a batch and the first
day of the look-back window and returns ``CreditEntry`` rows for all of them in **one query** — so
the grades of a page of facilities, or of every facility (``credit_grades_all``, in batches), cost
one query per source, never one per facility. The grade itself is ``credit_rules.credit_grade`` (pure).

Sources: JL-C2 violations, JL-F5/JL-O7 suspensions (a stop-and-report from the equipment register is
a suspension like any other), JL-O6 published inspection results, JL-O6 substantiated complaints, and
the JL-O3 yearly evaluation (``evaluation_entries``, its published grades).

What the public sees (``public=True``): published inspection results, substantiated complaints (the
fact and the day, no text, no tracking number) and suspensions (the cause and the days) — never a
violation, whose record names a patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from facilities.choices import EvaluationGrade, SuspensionCause

from . import credit_rules, inspection_rules
from .choices import FindingSeverity, InspectionResultState

BEIJING = ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class CreditEntry:
    """One entry of a facility's credit record: what (``kind``, priced in ``credit_rules.DEDUCTIONS``),
    when (``on``, a Beijing day), from which object (``source``, ``source_id``, ``url`` for the staff
    and regulators' pages, ``public_url`` for the public pages), and whether the public sees it."""

    facility_id: int
    kind: str
    on: dt.date
    source: str
    source_id: int
    label: str
    url: str = ""
    public: bool = False
    public_url: str = ""

    @property
    def deduction(self) -> int:
        return credit_rules.deduction(self.kind)


Source = Callable[[Sequence[int], dt.datetime], list[CreditEntry]]


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BEIJING).date()


def _start(since: dt.date) -> dt.datetime:
    return dt.datetime.combine(since, dt.time(), BEIJING)


def violation_entries(facility_ids: Sequence[int], since: dt.datetime) -> list[CreditEntry]:
    """JL-C2: missed 24-hour uploads, by their deadline (index ``violation_facility_due_idx``). Not public."""
    from consultations.models import Violation

    rows = Violation.objects.filter(facility_id__in=facility_ids, due_at__gte=since).values_list("pk", "facility_id", "due_at")
    link = reverse("consultations:violation-list")
    return [
        CreditEntry(facility_id=fid, kind="violation", on=_day(due), source="consultations.violation", source_id=pk,
                    label=_("JL-C2 第二十二条: 24小时上传义务超时"), url=f"{link}?facility={fid}")
        for pk, fid, due in rows
    ]


def suspension_entries(facility_ids: Sequence[int], since: dt.datetime) -> list[CreditEntry]:
    """JL-F5, JL-O7: suspensions by the day reported (a regulator's order weighs more). Public: the cause."""
    from facilities.models import Suspension

    rows = Suspension.objects.filter(facility_id__in=facility_ids, reported_at__gte=since).values_list(
        "pk", "facility_id", "reported_at", "cause")
    entries = []
    for pk, fid, reported_at, cause in rows:
        ordered = cause == SuspensionCause.REGULATOR_ORDER
        entries.append(CreditEntry(
            facility_id=fid, kind="suspension_ordered" if ordered else "suspension", on=_day(reported_at),
            source="facilities.suspension", source_id=pk, public=True,
            label=_("JL-F5 第三十四条: 暂停远程医疗服务（%(cause)s）") % {"cause": SuspensionCause(cause).label},
            url=reverse("facilities:suspension-detail", args=[pk])))
    return entries


def inspection_entries(facility_ids: Sequence[int], since: dt.datetime) -> list[CreditEntry]:
    """JL-O6: results of *published* random inspections, by the day entered; a rectification not done
    by its deadline adds an entry dated the day after the deadline. Public."""
    from .inspection_models import InspectionResult

    rows = InspectionResult.objects.filter(
        facility_id__in=facility_ids, plan__published_at__isnull=False, entered_at__gte=since,
    ).values_list("pk", "facility_id", "entered_at", "severity", "state", "deadline", "rectified_at", "plan_id", "plan__title")
    today = timezone.localdate()
    entries = []
    for pk, fid, entered_at, severity, state, deadline, rectified_at, plan_id, title in rows:
        url = reverse("audit:inspection-result", args=[pk])
        public_url = reverse("public:inspection-detail", args=[plan_id])
        kind = {FindingSeverity.NONE: "inspection_clean", FindingSeverity.MINOR: "inspection_minor"}.get(severity, "inspection_serious")
        entries.append(CreditEntry(
            facility_id=fid, kind=kind, on=_day(entered_at), source="audit.inspectionresult", source_id=pk, public=True,
            label=_("JL-O6 随机抽查“%(plan)s”：%(severity)s") % {"plan": title, "severity": FindingSeverity(severity).label},
            url=url, public_url=public_url))
        if state in (InspectionResultState.RECTIFYING, InspectionResultState.RECTIFIED) and inspection_rules.rectification_overdue(
                deadline=deadline, rectified_on=_day(rectified_at) if rectified_at else None, today=today):
            entries.append(CreditEntry(
                facility_id=fid, kind="inspection_overdue", on=deadline + dt.timedelta(days=1), source="audit.inspectionresult",
                source_id=pk, public=True, url=url, public_url=public_url,
                label=_("JL-O6 随机抽查“%(plan)s”：未按期整改（期限 %(deadline)s）") % {"plan": title, "deadline": deadline.isoformat()}))
    return entries


def complaint_entries(facility_ids: Sequence[int], since: dt.datetime) -> list[CreditEntry]:
    """JL-O6: complaints found substantiated (the latest finding, a regulator's override included), by
    the day received (index ``complaint_substantiated_idx``). Public: the fact and the day only."""
    from .complaint_models import Complaint

    rows = Complaint.objects.filter(facility_id__in=facility_ids, substantiated=True, received_at__gte=since).values_list(
        "pk", "facility_id", "received_at")
    return [
        CreditEntry(facility_id=fid, kind="complaint", on=_day(received_at), source="audit.complaint", source_id=pk,
                    public=True, label=_("JL-O6: 投诉经认定属实"), url=reverse("audit:complaint-detail", args=[pk]))
        for pk, fid, received_at in rows
    ]


def evaluation_entries(facility_ids: Sequence[int], since: dt.datetime) -> list[CreditEntry]:
    """JL-O3: the yearly evaluation's grades (优秀 / 合格 / 不合格), once the evaluating regulator has
    published them, dated the day of publication (index ``evaluation_facility_year_idx``). Public: a
    published grade is public by definition (art. 47)."""
    from facilities.models import EvaluationResult

    rows = (EvaluationResult.objects.filter(facility_id__in=facility_ids, round__published_at__gte=since)
            .values_list("pk", "facility_id", "year", "grade", "round__published_at"))
    return [
        CreditEntry(facility_id=fid, kind=f"evaluation_{grade}", on=_day(published_at), source="facilities.evaluationresult",
                    source_id=pk, public=True, url=reverse("facilities:evaluation-result", args=[pk]),
                    label=_("JL-O3: %(year)s年度评价考核“%(grade)s”") % {"year": year, "grade": EvaluationGrade(grade).label})
        for pk, fid, year, grade, published_at in rows
    ]


SOURCES: list[Source] = [violation_entries, suspension_entries, inspection_entries, complaint_entries, evaluation_entries]


def sources() -> list[Source]:
    return list(SOURCES)


def credit_entries(facility_ids: Sequence[int], *, today: dt.date | None = None,
                   public_only: bool = False) -> dict[int, list[CreditEntry]]:
    """Every entry inside the look-back window for each facility, newest first: one query per source."""
    today = today or timezone.localdate()
    since = _start(credit_rules.window_start(today))
    ids = sorted({int(pk) for pk in facility_ids})
    entries: dict[int, list[CreditEntry]] = {pk: [] for pk in ids}
    if not ids:
        return entries
    for source in sources():
        for entry in source(ids, since):
            if entry.facility_id in entries and (entry.public or not public_only) and entry.on <= today:
                entries[entry.facility_id].append(entry)
    for rows in entries.values():
        rows.sort(key=lambda e: (e.on, e.source_id), reverse=True)
    return entries


def credit_grades(facility_ids: Sequence[int], *, today: dt.date | None = None) -> dict[int, credit_rules.Grade]:
    """JL-O6: the grade of each facility (all its entries count, public or not)."""
    today = today or timezone.localdate()
    return {
        pk: credit_rules.credit_grade(((e.kind, e.on) for e in rows), today=today)
        for pk, rows in credit_entries(facility_ids, today=today).items()
    }


def credit_grades_all(*, today: dt.date | None = None, batch_size: int = 500) -> Iterator[tuple[int, credit_rules.Grade]]:
    """Every facility's grade, ``batch_size`` facilities at a time (one query per source per batch)."""
    from facilities.models import Facility

    today = today or timezone.localdate()
    last = 0
    while True:
        ids = list(Facility.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        yield from credit_grades(ids, today=today).items()
        last = ids[-1]
