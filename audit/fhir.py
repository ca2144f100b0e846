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
from datetime import UTC

# The search and Bundle helpers moved to ``telemed.fhir.search`` (shared by every FHIR resource);
# they are re-exported here for the AuditEvent views and tests.
from telemed.fhir.search import (  # noqa: F401
    FHIR_MEDIA_TYPE,
    NAMESPACE,
    DateBound,
    SearchError,
    date_range_filter,
    parse_date,
    parse_id,
    searchset,
)

from .choices import EventType

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


# --- search parameters ----------------------------------------------------------------------


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
