"""Pure FHIR R4 helpers shared by every resource the portal serves (AuditEvent, and the issue-14
facade: ServiceRequest, Task, DiagnosticReport, DocumentReference, Patient, Organization,
Practitioner, PractitionerRole, Consent). No database query, no request.

- search values: ``parse_date`` (``_lastUpdated``, AuditEvent ``date``), ``parse_id`` (``_id`` and
  reference parameters: ``12`` or ``Patient/12``), ``parse_count``;
- results: ``searchset`` (a Bundle of type searchset), ``operation_outcome`` (every error: a stable
  code in ``ERROR_SYSTEM`` and the Chinese message as ``diagnostics``);
- ``instant``: a timestamp as a FHIR instant (UTC, ``Z``).

The host in our URLs is a namespace for our own code systems and identifiers; it is never fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

NAMESPACE = "https://telemed.jl.gov.cn/fhir"
FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_VERSION = "4.0.1"
# The portal's error codes (``telemed.errors.ApplicationError.code``) as OperationOutcome details.
ERROR_SYSTEM = f"{NAMESPACE}/CodeSystem/error-code"
DEFAULT_COUNT, MAX_COUNT = 50, 500
MAX_ID = 2**63 - 1


def instant(value: datetime | None) -> str | None:
    """A FHIR ``instant``: UTC with microseconds and ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def compact(resource: dict) -> dict:
    """Drop empty values (FHIR forbids empty strings, lists and objects), recursively."""
    def clean(value):
        if isinstance(value, dict):
            value = {k: clean(v) for k, v in value.items()}
            return {k: v for k, v in value.items() if v not in (None, "", [], {})}
        if isinstance(value, list):
            return [v for v in (clean(item) for item in value) if v not in (None, "", [], {})]
        return value
    return clean(resource)


# --- results -------------------------------------------------------------------------------------


def searchset(*, resources: list[dict], total: int | None, base_url: str, links: dict[str, str]) -> dict:
    """A Bundle of type "searchset" with the page's resources and the paging links (``total`` None:
    not counted — the cursor mode, where counting would cost what the keyset saves; FHIR allows it)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [
            {"fullUrl": f"{base_url}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources
        ],
    }
    if total is None:
        del bundle["total"]
    return bundle


# --- search parameters ----------------------------------------------------------------------


class SearchError(ValueError):
    """A search parameter that cannot be understood; its text is shown to the caller."""


_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class DateBound:
    """``recorded`` compared with one ``date`` parameter: [start, end) is the value's precision."""

    prefix: str
    start: datetime
    end: datetime


def parse_date(value: str, *, local_zone: str) -> DateBound:
    """A FHIR date search value (``ge2026-11-01``, ``le2026-11-30``, ``2026-11``,
    ``gt2026-11-24T08:00:00+08:00``). A value without a zone is in the portal's time zone."""
    match = _DATE.match(value.strip())
    if not match:
        raise SearchError(_("无法识别的日期参数：%(value)s") % {"value": value})
    parts = match.groupdict()
    prefix = parts["prefix"] or "eq"
    if prefix in ("sa", "eb", "ap"):
        raise SearchError(_("不支持的日期前缀：%(prefix)s") % {"prefix": prefix})
    tz = ZoneInfo(local_zone)
    if parts["tz"]:
        tz = UTC if parts["tz"] == "Z" else _offset(parts["tz"])
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            start, end = datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
        elif parts["day"] is None:
            month = int(parts["month"])
            start = datetime(year, month, 1, tzinfo=tz)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
        elif parts["hour"] is None:
            day = date(year, int(parts["month"]), int(parts["day"]))
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            end = start + timedelta(days=1)
        else:
            start = datetime(year, int(parts["month"]), int(parts["day"]), int(parts["hour"]), int(parts["minute"]),
                             int(parts["second"] or 0), int((parts["fraction"] or "0").ljust(6, "0")), tzinfo=tz)
            if parts["fraction"]:
                step = timedelta(microseconds=10 ** (6 - len(parts["fraction"])))
            else:
                step = timedelta(seconds=1) if parts["second"] else timedelta(minutes=1)
            end = start + step
    except (ValueError, OverflowError) as exc:  # 2026-02-30; 9999-12-31 has no next day
        raise SearchError(_("无效的日期：%(value)s") % {"value": value}) from exc
    return DateBound(prefix, start, end)


def _offset(text: str):
    from datetime import timezone

    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def date_range_filter(bound: DateBound, field: str = "occurred_at"):
    """The ORM condition for one bound: edges inclusive at the value's precision
    (``le2026-11-30`` takes the whole of 30 November)."""
    from django.db.models import Q

    start, end = bound.start, bound.end
    return {
        "eq": Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "ne": ~Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "ge": Q(**{f"{field}__gte": start}),
        "gt": Q(**{f"{field}__gte": end}),
        "le": Q(**{f"{field}__lt": end}),
        "lt": Q(**{f"{field}__lt": start}),
    }[bound.prefix]




def parse_id(name: str, value: str) -> int:
    """``patient=12`` or ``patient=Patient/12``; ``facility=5`` or ``facility=Organization/5``."""
    text = value.strip().rpartition("/")[2]
    if not text.isdigit() or int(text) > MAX_ID:  # beyond a 64-bit key no row exists; the database would fail
        raise SearchError(_("%(name)s 参数须为编号：%(value)s") % {"name": name, "value": value})
    return int(text)


def parse_count(value: str | None, *, default: int = DEFAULT_COUNT, maximum: int = MAX_COUNT) -> int:
    """``_count``: a positive integer, capped at ``maximum`` (FHIR lets a server return fewer)."""
    value = (value or "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SearchError(_("_count 须为正整数：%(value)s") % {"value": value})
    return min(int(value), maximum)


# FHIR issue types (http://hl7.org/fhir/issue-type) for the portal's HTTP statuses.
ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               409: "conflict", 412: "conflict", 413: "too-long", 429: "throttled"}


def operation_outcome(*, status: int, code: str, message: str) -> dict:
    """Every error of the facade as an OperationOutcome: the FHIR issue type from the status, the
    portal's stable ``code`` as ``details.coding`` (the same codes as the rest of the API) and the
    Chinese message as ``details.text`` and ``diagnostics``."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error",
            "code": ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
            "details": {"coding": [{"system": ERROR_SYSTEM, "code": code}], "text": message},
            "diagnostics": message,
        }],
    }
