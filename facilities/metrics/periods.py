"""The dashboard's period: a month (default), a quarter, a year or custom days, in Beijing time.

``parse_period`` reads the query parameters and refuses bad input with ``period_invalid`` and a
Chinese message (never a 500). Each period knows the one before it (the previous month, quarter,
year, or as many days just before) and the same period a year earlier.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from telemed.errors import ApplicationError

KINDS = ("month", "quarter", "year", "custom")
MAX_CUSTOM_DAYS = 731
CODE = "period_invalid"


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date  # first day, inclusive
    end: dt.date  # last day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return f"{self.start.year}"
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    def query(self) -> dict[str, str]:
        """The query parameters that select this period again (links, drill-down)."""
        if self.kind == "month":
            return {"period": "month", "month": f"{self.start:%Y-%m}"}
        if self.kind == "quarter":
            return {"period": "quarter", "quarter": self.label}
        if self.kind == "year":
            return {"period": "year", "year": self.label}
        return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}

    def previous(self) -> Period:
        if self.kind == "month":
            return month(_shift_month(self.start, -1))
        if self.kind == "quarter":
            return quarter(_shift_month(self.start, -3))
        if self.kind == "year":
            return year(self.start.year - 1)
        end = self.start - dt.timedelta(days=1)
        return Period("custom", end - dt.timedelta(days=self.days - 1), end)

    def last_year(self) -> Period:
        if self.kind == "month":
            return month(self.start.replace(year=self.start.year - 1))
        if self.kind == "quarter":
            return quarter(self.start.replace(year=self.start.year - 1))
        if self.kind == "year":
            return year(self.start.year - 1)
        return Period("custom", _year_back(self.start), _year_back(self.end))


def _year_back(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _shift_month(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month(day: dt.date) -> Period:
    first = day.replace(day=1)
    return Period("month", first, _shift_month(first, 1) - dt.timedelta(days=1))


def quarter(day: dt.date) -> Period:
    first = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return Period("quarter", first, _shift_month(first, 3) - dt.timedelta(days=1))


def year(number: int) -> Period:
    return Period("year", dt.date(number, 1, 1), dt.date(number, 12, 31))


def trailing_months(period: Period, count: int = 12) -> list[Period]:
    """The ``count`` months ending with the month of the period's last day (the trends)."""
    last = _shift_month(period.end.replace(day=1), 0)
    return [month(_shift_month(last, -offset)) for offset in range(count - 1, -1, -1)]


def _refuse(message: str, field: str) -> ApplicationError:
    return ApplicationError(CODE, message, {"field": field})


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _refuse(_("日期格式应为 YYYY-MM-DD（例如 2026-10-01）：%(v)s") % {"v": text[:20]}, field) from None


def refuse_malformed_dates(params) -> None:
    """Issue 14 (the API): ``start`` and ``end`` are dates (``format: date``) whatever ``period`` is; one that
    is given but is not a YYYY-MM-DD date is refused, even where the period does not read it. (The pages'
    form sends them empty with every period, and keeps ignoring them.)"""
    for field in ("start", "end"):
        if field in params:
            text = params[field]
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                raise _refuse(_("日期格式应为 YYYY-MM-DD（例如 2026-10-01）：%(v)s") % {"v": text[:20]}, field)
            _date(text, field)


def parse_period(params, *, today: dt.date) -> Period:
    """The period named by ``period`` and its companion parameter; the current month by default."""
    kind = (params.get("period") or "month").strip()
    if kind not in KINDS:
        raise _refuse(_("统计周期只能是 month（月）、quarter（季度）、year（年）或 custom（自定义）。"), "period")
    if kind == "month":
        text = (params.get("month") or f"{today:%Y-%m}").strip()
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise _refuse(_("月份格式应为 YYYY-MM（例如 2026-10）。"), "month")
        return month(dt.date(int(match[1]), int(match[2]), 1))
    if kind == "quarter":
        current = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        text = (params.get("quarter") or current).strip().upper()
        match = re.fullmatch(r"(\d{4})-Q([1-4])", text)
        if not match or int(match[1]) < 2000:
            raise _refuse(_("季度格式应为 YYYY-Qn（例如 2026-Q4）。"), "quarter")
        return quarter(dt.date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1))
    if kind == "year":
        text = (params.get("year") or str(today.year)).strip()
        if not re.fullmatch(r"\d{4}", text) or int(text) < 2000:
            raise _refuse(_("年份格式应为 YYYY（例如 2026）。"), "year")
        return year(int(text))
    start = _date((params.get("start") or "").strip(), "start")
    end = _date((params.get("end") or "").strip(), "end")
    if start.year < 2000:
        raise _refuse(_("开始日期不能早于 2000 年。"), "start")
    if end < start:
        raise _refuse(_("结束日期不能早于开始日期。"), "end")
    if (end - start).days + 1 > MAX_CUSTOM_DAYS:
        raise _refuse(_("自定义周期最长 %(n)d 天。") % {"n": MAX_CUSTOM_DAYS}, "end")
    return Period("custom", start, end)
