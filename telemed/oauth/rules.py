"""Partner applications (issue 14; JL-A1, JL-A2): the scope catalogue and the pure rules.

No database, no request (STYLE 1): the scopes an application may hold, which scope each API route
needs for a method, whether a client may obtain tokens now, and the rotation's overlap window.

**Scopes** are ``resource:action``. Every route under ``/api/v1/`` is declared here: a route of a
resource in ``ROUTE_RESOURCES`` needs ``<resource>:read`` for GET/HEAD/OPTIONS and
``<resource>:write`` for anything else; ``ROUTE_SCOPES`` names a route's scope outright (documents,
webhooks, metrics); ``NOT_FOR_CLIENTS`` are routes a partner application may never call (the
token doors, the registration of applications itself). A route in none of them is refused to
every application (``scope_undeclared``) and fails ``tests/telemed/test_oauth_clients.py``.
"""

from __future__ import annotations

import datetime as dt

# The scope catalogue: value → description (published in the OpenAPI security scheme).
SCOPES: dict[str, str] = {
    "facilities:read": "读取机构、合作协议、医师与执业注册、值班、暂停、资质申请（含 FHIR Organization、Practitioner、PractitionerRole）",
    "facilities:write": "登记或变更机构、合作协议、医师、值班、暂停、资质申请",
    "patients:read": "读取患者与住院记录（含 FHIR Patient）",
    "patients:write": "登记患者、住院、诊断与出院",
    "consultations:read": "读取会诊、转诊与 24 小时上传义务（含 FHIR ServiceRequest、Task、DiagnosticReport、Consent）",
    "consultations:write": "发起与办理会诊、转诊与上传义务",
    "documents:read": "下载会诊资料（含 FHIR DocumentReference）",
    "documents:write": "上传会诊资料与知情同意书",
    "billing:read": "读取价格、收费、结算单与分配",
    "billing:write": "登记价格、收费、付款、结算与分配",
    "audit:read": "读取责任记录、封存与审计事件（FHIR AuditEvent）、随机抽查与信用记录",
    "audit:write": "封存与解封病历；随机抽查的计划、抽取、结果、整改与公开",
    "metrics:read": "读取监管统计",
    "evaluation:read": "读取年度评价考核办法与结果（JL-O3）",
    "evaluation:write": "启动、调整与公布年度评价考核，发布考核办法（JL-O3，监管部门）",
    "webhooks:manage": "管理事件推送订阅与推送记录",
}
SCOPE_CHOICES = sorted(SCOPES)  # the API's enum (OpenAPI component PartnerScopeEnum)
READ, WRITE = "read", "write"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Route-name prefixes (``namespace:basename``) → resource; the method decides read or write.
ROUTE_RESOURCES: dict[str, str] = {
    "facilities-api:facility": "facilities",
    "facilities-api:agreement": "facilities",
    "facilities-api:physician": "facilities",
    "facilities-api:registration": "facilities",
    "facilities-api:service-type": "facilities",
    "facilities-api:membership": "facilities",
    "facilities-api:duty": "facilities",
    "facilities-api:suspension": "facilities",
    "facilities-api:application": "facilities",
    "facilities-api:asset": "facilities",  # JL-O7: the equipment register
    "facilities-api:evaluation": "evaluation",  # JL-O3: formulas, rounds and results of the yearly evaluation
    "consultations-api:patient": "patients",
    "consultations-api:admission": "patients",
    "consultations-api:consultation": "consultations",
    "consultations-api:obligation": "consultations",
    "consultations-api:referral": "consultations",
    "consultations-api:violation": "consultations",  # JL-C2 violations (read only)
    "billing-api:price-standard": "billing",
    "billing-api:price": "billing",
    "billing-api:charge": "billing",
    "billing-api:statement": "billing",
    "billing-api:settlement-account": "billing",
    "billing-api:allocation-policy": "billing",
    "billing-api:payout-report": "billing",
    "billing-api:my-payout": "billing",
    "audit-api:responsibility": "audit",
    "audit-api:seal": "audit",
    "audit-api:fhir-auditevent": "audit",
    "audit-api:complaint": "audit",  # JL-O6: complaints about the client's facility
    "audit-api:audit-checkpoint": "audit",  # JL-A1: signed checkpoints a regulator's system keeps and verifies
    "audit-api:inspector": "audit",  # JL-O6: 双随机一公开 rosters, plans, draws, results; credit records
    "audit-api:inspection-plan": "audit",
    "audit-api:inspection-result": "audit",
    "audit-api:facility-credit": "audit",
    "audit-api:qc-plan": "audit",  # JL-O2: quality-control plans, draws and reviews (read-only lists)
    "audit-api:qc-draw": "audit",
    "audit-api:qc-review": "audit",
    # Issue 14: the FHIR R4 facade (read and search only: a write would need :write and finds no route).
    "fhir-api:servicerequest": "consultations",
    "fhir-api:task": "consultations",
    "fhir-api:diagnosticreport": "consultations",
    "fhir-api:consent": "consultations",
    "fhir-api:documentreference": "documents",
    "fhir-api:patient": "patients",
    "fhir-api:organization": "facilities",
    "fhir-api:practitioner": "facilities",
    "fhir-api:practitionerrole": "facilities",
}
# Routes whose scope does not follow the method (exact names, or a prefix ending in ``*``).
ROUTE_SCOPES: dict[str, str] = {
    "facilities-api:api-root": "facilities:read",
    "consultations-api:consultation-documents": "documents:write",
    "consultations-api:consultation-consent": "documents:write",
    "consultations-api:consultation-download": "documents:read",
    "facilities-api:metrics-*": "metrics:read",
    "facilities-api:assistance-credit": "metrics:read",  # JL-O4
    "webhooks-api:*": "webhooks:manage",
    "fhir-api:metadata": "any",  # the CapabilityStatement: any application, whatever its scopes (ANY)
}
# A route any application may call with a token of whatever scopes it holds.
ANY = "any"
# Routes no partner application may call, with the reason.
NOT_FOR_CLIENTS: dict[str, str] = {
    "facilities-api:auth-token": "the old username/password door for per-user DRF tokens (deprecated)",
    "oauth-api:token": "the token endpoint itself: the client authenticates with its id and secret",
    "oauth-api:*": "registering, rotating and revoking applications is the administrator's act, never an application's",
    "notifications-api:*": "a person's own notification settings (issue 12): people set them, not applications",
}

UNDECLARED = "undeclared"
FORBIDDEN = "forbidden"


def _match(table: dict[str, str], route: str) -> str | None:
    if route in table:
        return table[route]
    prefixes = sorted((key[:-1] for key in table if key.endswith("*")), key=len, reverse=True)
    for prefix in prefixes:
        if route.startswith(prefix):
            return table[prefix + "*"]
    return None


def required_scope(route: str | None, method: str) -> str:
    """The scope a partner application needs to call ``route`` with ``method``, or ``ANY`` (any token
    will do), ``FORBIDDEN`` (no application may call it) or ``UNDECLARED`` (nobody declared it:
    refused, and a test fails)."""
    if not route:
        return UNDECLARED
    if _match(NOT_FOR_CLIENTS, route) is not None:
        return FORBIDDEN
    scope = _match(ROUTE_SCOPES, route)
    if scope is not None:
        return scope
    for prefix in sorted(ROUTE_RESOURCES, key=len, reverse=True):
        if route.startswith(prefix + "-"):
            action = READ if method.upper() in SAFE_METHODS else WRITE
            scope = f"{ROUTE_RESOURCES[prefix]}:{action}"
            return scope if scope in SCOPES else FORBIDDEN
    return UNDECLARED


def scope_sufficient(needed: str, granted: list[str]) -> bool:
    """Whether a token holding ``granted`` may call a route needing ``needed``."""
    return bool(granted) if needed == ANY else needed in granted


def scope_problems(scopes: list[str]) -> list[str]:
    """Scopes not in the catalogue (empty when all are known); an empty list is itself a problem."""
    if not scopes:
        return ["(none)"]
    return sorted({scope for scope in scopes if scope not in SCOPES})


def client_refusal(*, revoked_at: dt.datetime | None, expires_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why a registered client may not obtain or use tokens now: ``client_revoked``,
    ``client_expired``, or None."""
    if revoked_at is not None:
        return "client_revoked"
    if expires_at is not None and expires_at <= now:
        return "client_expired"
    return None


def overlap_until(*, rotated_at: dt.datetime, overlap_hours: int) -> dt.datetime | None:
    """Until when the old secret still obtains tokens after a rotation (None: not at all)."""
    if overlap_hours <= 0:
        return None
    return rotated_at + dt.timedelta(hours=overlap_hours)


def previous_secret_valid(*, until: dt.datetime | None, now: dt.datetime) -> bool:
    return until is not None and now < until
