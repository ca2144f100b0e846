"""The audit log as FHIR R4 ``AuditEvent`` resources for external auditors (JL-A1; IHE ATNA).

Pure functions: an ``AuditEvent`` row (and the names of the facilities and divisions it
mentions) in, a JSON-ready dict out; search parameters in, query filters out. No database here,
so the mapping is tested on plain rows and validated against the FHIR R4 models.

Mapping (FHIR R4 AuditEvent):

- ``type``: our event type as a code in ``EVENT_TYPE_SYSTEM``; ``action`` C/R/U/D/E from it
  (``fhir_action``); ``recorded`` = ``occurred_at``; ``outcome`` "0" success, "4" minor failure
  (a refusal, a failed check), with ``outcomeDesc``.
- ``agent``: the person (or, for a background task, the portal) who acted, as requestor, with the
  network address and the stated purpose; the facility or division they acted for as an
  Organization agent.
- ``source``: the portal, an application server (security-source-type 4).
- ``entity``: the object acted on, and the patient(s) whose data it concerns as Patient entities.
- The chain link (sequence, hash, previous hash), request id, channel, the object as recorded,
  the facilities concerned and the event's details travel in the ``AUDIT_CHAIN_EXTENSION`` extension: with them every
  hashed field is in the resource, so an auditor can recompute the chain from the export.

The host in our URLs is a namespace for our own code systems and identifiers; it is never fetched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .choices import EventType

NAMESPACE = "https://telemed.jl.gov.cn/fhir"
EVENT_TYPE_SYSTEM = f"{NAMESPACE}/CodeSystem/event-type"
AUDIT_CHAIN_EXTENSION = f"{NAMESPACE}/StructureDefinition/audit-chain"
USER_SYSTEM = f"{NAMESPACE}/NamingSystem/user"
FACILITY_SYSTEM = f"{NAMESPACE}/NamingSystem/facility"
DIVISION_SYSTEM = f"{NAMESPACE}/NamingSystem/division"  # GB/T 2260 codes
OBJECT_SYSTEM = f"{NAMESPACE}/NamingSystem/object"
PORTAL_SYSTEM = f"{NAMESPACE}/NamingSystem/system"
PORTAL_NAME = "吉林省远程医疗服务平台"
PORTAL_ID = "jl-telemed-portal"

# HL7 terminology (THO) code systems used by R4 AuditEvent.
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"

PATIENT_OBJECT = "consultations.patient"
FHIR_MEDIA_TYPE = "application/fhir+json"

# --- action ---------------------------------------------------------------------------------------

READ_VERBS = frozenset({"view", "list", "download", "export", "reveal", "read"})
CREATE_VERBS = frozenset(
    {"create", "register", "apply", "open", "upload", "add", "record", "draft", "publish", "assign", "sign", "correct", "grant",
     "consent", "rate", "report", "adopt", "reverse"}
)
UPDATE_VERBS = frozenset(
    {"seal", "unseal", "update", "terminate", "lift", "decide", "verify", "confirm", "paid", "payment", "revoke",
     "withdraw", "met", "diagnosis", "discharge", "set", "return"}
)
# Checks that are run and recorded, whatever their last word says: "execute".
EXECUTED = frozenset({
    EventType.PHYSICIAN_QUALIFICATION_ATTEND, EventType.PHYSICIAN_QUALIFICATION_ASSIGN, EventType.PHYSICIAN_QUALIFICATION_ACCEPT,
    EventType.PHYSICIAN_QUALIFICATION_SIGN,
    EventType.AUDIT_CHAIN_VERIFY, EventType.AUDIT_CHAIN_VERIFY_REQUEST,
})


def _state_transitions() -> frozenset[str]:
    from consultations.rules import ACTIONS

    return frozenset(ACTIONS)


def fhir_action(event_type: str) -> str:
    """C/R/U/D/E for an event type: reads of patient data R; creations C; seals, unseals and
    state transitions U; checks and everything else E. Nothing is ever deleted (JL-C8), so no D."""
    if event_type in EXECUTED:
        return "E"
    head, _dot, verb = event_type.rpartition(".")
    if verb in READ_VERBS:
        return "R"
    if head == "consultation" and verb in _state_transitions():
        return "U"
    if verb in CREATE_VERBS or verb.endswith("_register"):
        return "C"
    if verb in UPDATE_VERBS:
        return "U"
    return "E"


# --- outcome ----------------------------------------------------------------------------------


def outcome_description(outcome: str, details: dict) -> str:
    if outcome == "success":
        return "成功"
    if details.get("problem"):
        return str(details["problem"])
    failing = [c.get("text") or c.get("message") for c in details.get("checks", []) if isinstance(c, dict) and not c.get("passed", True)]
    if any(failing):
        return "；".join(t for t in failing if t)
    for key in ("message", "reason", "error"):
        if details.get(key):
            return str(details[key])
    return "失败"


# --- the resource -------------------------------------------------------------------------------


def _coding(system: str, code: str, display: str = "") -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _patient_entity(patient_id) -> dict:
    return {
        "what": {"reference": f"Patient/{patient_id}"},
        "type": _coding(ENTITY_TYPE, "1", "Person"),
        "role": _coding(OBJECT_ROLE, "1", "Patient"),
    }


def _object_entity(event, details: dict) -> dict:
    what: dict = {"identifier": {"system": OBJECT_SYSTEM, "value": f"{event.object_type}/{event.object_id}" if event.object_id else event.object_type}}
    if details.get("consultation"):
        what["display"] = str(details["consultation"])
    return {
        "what": what,
        "type": _coding(ENTITY_TYPE, "2", "System Object"),
        "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
    }


def _agents(event, facility_name: str, division_name: str, details: dict) -> list[dict]:
    if event.actor_id:
        person = {
            "type": {"coding": [_coding(ROLE_TYPE, "humanuser", "human user")]},
            "who": {"identifier": {"system": USER_SYSTEM, "value": str(event.actor_id)}, "display": event.actor_label or str(event.actor_id)},
            "requestor": True,
        }
    else:
        person = {
            "type": {"coding": [_coding(ROLE_TYPE, "dataprocessor", "data processor")]},
            "who": {"identifier": {"system": PORTAL_SYSTEM, "value": PORTAL_ID},
                    "display": f"{PORTAL_NAME}（{event.channel}）" if event.channel else PORTAL_NAME},
            "requestor": True,
        }
    if event.ip_address:
        person["network"] = {"address": event.ip_address, "type": "2"}  # 2 = IP address
    if details.get("purpose"):
        person["purposeOfUse"] = [{"text": str(details["purpose"])}]
    agents = [person]
    if event.acting_facility_id:
        agents.append({
            "type": {"coding": [_coding(ROLE_CLASS, "PROV", "healthcare provider")]},
            "who": {"identifier": {"system": FACILITY_SYSTEM, "value": str(event.acting_facility_id)},
                    "display": facility_name or str(event.acting_facility_id)},
            "requestor": False,
        })
    if event.acting_division_code:
        agents.append({
            "type": {"coding": [_coding(ROLE_CLASS, "GOV", "government")]},
            "who": {"identifier": {"system": DIVISION_SYSTEM, "value": event.acting_division_code},
                    "display": f"{division_name or event.acting_division_code}卫生健康行政部门"},
            "requestor": False,
        })
    return agents


def _chain_extension(event) -> dict:
    if event.sequence is None:  # issue 11: committed, not yet chained — its content hash only
        parts = [{"url": "pending", "valueBoolean": True}]
    else:
        parts = [
            {"url": "sequence", "valueDecimal": int(event.sequence)},  # R4 integers stop at 2^31
            {"url": "hash", "valueString": event.hash},
            {"url": "prevHash", "valueString": event.prev_hash},
        ]
    if getattr(event, "leaf_hash", ""):
        parts.append({"url": "leafHash", "valueString": event.leaf_hash})
    if event.request_id:
        parts.append({"url": "requestId", "valueString": event.request_id})
    if event.channel:
        parts.append({"url": "channel", "valueString": event.channel})
    # With these, every hashed field is in the resource: an auditor can recompute the chain.
    if event.object_type:
        parts.append({"url": "object", "valueString": f"{event.object_type}/{event.object_id}"})
    parts.append({"url": "facilityIds", "valueString": _json(event.facility_ids)})
    if event.details:
        parts.append({"url": "details", "valueString": _json(event.details)})
    return {"url": AUDIT_CHAIN_EXTENSION, "extension": parts}


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def audit_event_resource(event, *, facility_name: str = "", division_name: str = "", type_display: str = "") -> dict:
    """One ``audit.AuditEvent`` row as a FHIR R4 AuditEvent resource (a JSON-ready dict)."""
    details = event.details if isinstance(event.details, dict) else {}
    entities = []
    if event.object_type == PATIENT_OBJECT and event.object_id:
        entities.append(_patient_entity(event.object_id))
    elif event.object_type:
        entities.append(_object_entity(event, details))
    patient_ids = [details["patient_id"]] if details.get("patient_id") else []
    patient_ids += [p for p in details.get("patient_ids", []) if p] if isinstance(details.get("patient_ids"), list) else []
    for patient_id in dict.fromkeys(str(p) for p in patient_ids):
        if not (event.object_type == PATIENT_OBJECT and event.object_id == patient_id):
            entities.append(_patient_entity(patient_id))
    resource = {
        "resourceType": "AuditEvent",
        "id": str(event.pk),
        "extension": [_chain_extension(event)],
        "type": _coding(EVENT_TYPE_SYSTEM, event.event_type, type_display),
        "action": fhir_action(event.event_type),
        "recorded": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "outcome": "0" if event.outcome == "success" else "4",
        "outcomeDesc": outcome_description(event.outcome, details),
        "agent": _agents(event, facility_name, division_name, details),
        "source": {
            "site": PORTAL_NAME,
            "observer": {"identifier": {"system": PORTAL_SYSTEM, "value": PORTAL_ID}, "display": PORTAL_NAME},
            "type": [_coding(SECURITY_SOURCE_TYPE, "4", "Application Server")],
        },
    }
    if entities:
        resource["entity"] = entities
    return resource


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
        raise SearchError(f"无法识别的日期参数：{value}")
    parts = match.groupdict()
    prefix = parts["prefix"] or "eq"
    if prefix in ("sa", "eb", "ap"):
        raise SearchError(f"不支持的日期前缀：{prefix}")
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
    except ValueError as exc:
        raise SearchError(f"无效的日期：{value}") from exc
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


def parse_type(value: str) -> list[tuple[str, bool]]:
    """``type`` values, comma = or: ``(code, is_prefix)``; a code ending in "." is a prefix;
    ``system|code`` is accepted when the system is ours."""
    codes = []
    for token in value.split(","):
        token = token.strip()
        if "|" in token:
            system, _bar, token = token.partition("|")
            if system and system != EVENT_TYPE_SYSTEM:
                raise SearchError(f"未知的事件类型代码系统：{system}")
        if not token:
            continue
        codes.append((token, token.endswith(".")))
    if not codes:
        raise SearchError("type 参数为空")
    return codes


def parse_id(name: str, value: str) -> int:
    """``patient=12`` or ``patient=Patient/12``; ``facility=5`` or ``facility=Organization/5``."""
    text = value.strip().rpartition("/")[2]
    if not text.isdigit():
        raise SearchError(f"{name} 参数须为编号：{value}")
    return int(text)
