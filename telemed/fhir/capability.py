"""``GET /api/v1/fhir/metadata``: the CapabilityStatement of the facade (issue 14).

Built from the routes themselves — the resource views ``telemed.fhir.urls.RESOURCES`` mounts, with
the search parameters each one implements, and the AuditEvent routes of ``audit.api`` — so it lists
exactly what the server answers and can never promise a parameter that is not there
(``tests/telemed/test_fhir_facade.py`` asks every listed parameter and checks nothing else exists).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from . import search
from .views import ERRORS, FhirResourceView

# The date of this statement's content: change it when the facade changes (docs/api-changelog.md).
STATEMENT_DATE = "2026-12-07"
PORTAL_NAME = "吉林省远程医疗服务平台"

# The AuditEvent search of ``audit.api.views`` (JL-A1), declared here as FHIR search parameters.
AUDIT_EVENT_PARAMS = (
    ("patient", "reference", "Patient", "涉及该患者的事件"),
    ("facility", "reference", "Organization", "涉及该机构或代表该机构所做的事件"),
    ("date", "date", "", "recorded，前缀 eq/ne/gt/lt/ge/le，可重复"),
    ("type", "token", "", "事件类型，精确或以“.”结尾的前缀，逗号分隔为“或”"),
)


def _search_param(name: str, kind: str, documentation: str) -> dict:
    return {"name": name, "type": kind, "documentation": documentation}


def capability_statement(resource_classes, *, base_url: str) -> dict:
    resources = []
    for cls in resource_classes:
        interactions = [{"code": "read"}, *([{"code": "vread"}] if cls.versioned else []), {"code": "search-type"}]
        resources.append({
            "type": cls.resource_type,
            "interaction": interactions,
            "versioning": "versioned" if cls.versioned else "no-version",
            "readHistory": cls.versioned,  # vread returns past versions
            "searchParam": [_search_param(p.name, p.type, p.documentation) for p in cls().all_params()],
            **({"documentation": cls.capability_note} if getattr(cls, "capability_note", "") else {}),
        })
    resources.append({
        "type": "AuditEvent",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "searchParam": [_search_param(name, kind, doc) for name, kind, _target, doc in AUDIT_EVENT_PARAMS],
        "documentation": _("JL-A1: 仅审计管理员与卫生健康行政部门；错误沿用 {code, message, extra}"),
    })
    resources.sort(key=lambda r: r["type"])
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": PORTAL_NAME,
        "kind": "instance",
        "software": {"name": PORTAL_NAME},
        "implementation": {"description": _("吉林省远程医疗服务平台 FHIR R4 只读接口（读取与检索）"), "url": base_url},
        "fhirVersion": search.FHIR_VERSION,
        "format": [search.FHIR_MEDIA_TYPE],
        "rest": [{
            "mode": "server",
            "documentation": _("分页：Bundle.link next（_cursor，游标），_count 每页条数（默认 %(d)d，最多 %(m)d）；无 total。")
            % {"d": search.DEFAULT_COUNT, "m": search.MAX_COUNT},
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth"}]}],
                "description": _("OAuth2 客户端凭据（/api/v1/oauth/token/）；授权范围见 telemed/oauth/rules.py：patients:read、"
                                 "consultations:read、documents:read、facilities:read、audit:read。"),
            },
            "resource": resources,
        }],
    }


class CapabilityStatementView(FhirResourceView):
    """FHIR R4 CapabilityStatement：本平台实现的资源类型、交互与检索参数（由路由生成，与实际一致）。"""

    resource_type = "CapabilityStatement"

    @extend_schema(operation_id="fhir_metadata", tags=["fhir"],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR R4 CapabilityStatement"), 401: ERRORS[401]})
    def get(self, request):
        from .urls import RESOURCES

        base = request.build_absolute_uri(reverse("fhir-api:metadata")).rsplit("/", 1)[0]
        return Response(capability_statement(RESOURCES, base_url=base))
