"""API of medical records under the law: responsibility (JL-C7), seals (JL-C8), and the audit log as
FHIR R4 AuditEvent for auditors (JL-A1).

Scoping (STYLE 3): responsibility and seals through ``Consultation.objects.visible_to`` (out of
scope is a 404); the audit log through ``selectors.audit_event_list`` and only for the audit administrator and
regulators (anyone else: 403 ``permission_denied``). Reading a record here is an access (调阅) and
is logged like on the pages; a sealed record answers only to a stated ``purpose``. Reading the
audit log is itself logged (``audit.log.read``, IHE ATNA "audit log used").
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_filters
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.choices import EventType
from consultations.models import Consultation
from facilities.choices import StaffRole
from telemed.api import ActionRolePermission, Roles, VersionedResourceMixin, run_service
from telemed.errors import ApplicationError
from telemed.fhir.views import (  # shared with the FHIR facade (issue 14)
    DATE_PATTERN,
    FhirJSONRenderer,
    FhirNegotiation,
)
from telemed.filters import IdFilter
from telemed.pagination import cursor_invalid, decode_cursor, encode_cursor
from telemed.scope import Scope

from .. import fhir, records, rules, selectors, services
from ..models import Seal
from ..services import audit_event_append
from . import serializers as s

SEAL_ROLES = Roles(staff=(StaffRole.COORDINATOR,), regulator=True)


ID_MAX = 2**63 - 1
ID = {"type": "integer", "minimum": 0, "maximum": ID_MAX}


def _int_param(request, name: str) -> int | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if not (value.isdigit() and int(value) <= ID_MAX):  # issue 14: beyond 64 bits was a 500
        raise exceptions.ValidationError({name: ["须为整数编号。"]})
    return int(value)


# --- Responsibility (JL-C7) ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("consultation", ID, description="申请 id：该申请的全部责任认定记录，按记录顺序"),
            OpenApiParameter("facility", ID, description="机构 id：该机构作为邀请方或受邀方的记录，最新在前"),
            OpenApiParameter("purpose", str, description="JL-C8: 调阅封存病历的目的（封存期间必填）"),
        ],
        description="JL-C7 第二十八、二十九条：责任认定记录及在每条记录下完成的操作（审计事件）。查看即记入调阅日志。",
    )
)
class ResponsibilityViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """责任认定: who answers for what on a consultation, and what was done under it."""

    serializer_class = s.ResponsibilityRecordSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []

    def get_queryset(self):
        open_seal = Seal.objects.filter(consultation_id=OuterRef("consultation_id"), unsealed_at__isnull=True)
        return selectors.responsibility_list(
            user=self.request.user,
            consultation_id=_int_param(self.request, "consultation"),
            facility_id=_int_param(self.request, "facility"),
        ).annotate(consultation_sealed=Exists(open_seal))

    def list(self, request, *args, **kwargs):
        consultation_id = _int_param(request, "consultation")
        consultation = None
        if consultation_id is not None:
            consultation = get_object_or_404(Consultation.objects.visible_to(request.user), pk=consultation_id)
            purpose = records.require_access_purpose(
                actor=request.user, consultation=consultation, purpose=request.query_params.get("purpose", "")
            )
            records.record_access(actor=request.user, action="view", consultation=consultation, purpose=purpose,
                                  details={"api": "responsibility"})
        page = self.paginate_queryset(self.get_queryset())
        consultations = list({r.consultation_id: r.consultation for r in page}.values())
        if consultation is None and consultations:
            records.record_list_access(actor=request.user, what="consultations.responsibilityrecord", rows=consultations,
                                       filters={"facility": _int_param(request, "facility")})
        timelines = selectors.responsibility_timelines(consultations)
        acts = {p.record.pk: p.acts for periods in timelines.values() for p in periods if p.record is not None}
        serializer = self.get_serializer(page, many=True, context={**self.get_serializer_context(), "acts": acts})
        return self.get_paginated_response(serializer.data)


# --- Seals (JL-C8) ------------------------------------------------------------------------------


class SealFilter(django_filters.FilterSet):
    consultation = IdFilter(field_name="consultation")
    open = django_filters.BooleanFilter(field_name="unsealed_at", lookup_expr="isnull", label="封存中")

    class Meta:
        model = Seal
        fields = ["consultation", "open"]


@extend_schema_view(
    create=extend_schema(request=s.SealCreateSerializer, responses={201: s.SealDetailSerializer},
                         description="JL-C8 第三十二、三十七条：封存病历，记录双方在场人并保存快照哈希。"),
    retrieve=extend_schema(responses=s.SealDetailSerializer, description="含与现行病历比对的结果；查看即记入调阅日志。"),
    unseal=extend_schema(request=s.SealReleaseSerializer, responses=s.SealDetailSerializer,
                         description="JL-C8 第三十七条：启封，双方在场人再次记录。"),
)
class SealViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """封存: consultations sealed for a dispute; read-only while sealed."""

    serializer_class = s.SealSerializer
    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles = {"create": SEAL_ROLES, "unseal": SEAL_ROLES}
    filterset_class = SealFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.seal_list(user=self.request.user)

    def acting_on(self, seal) -> tuple[list[int], list[str]]:
        c = seal.consultation
        return [c.inviting_id, c.invited_id], [c.inviting.division_id, c.invited.division_id]

    def _detail(self, seal, *, status_code=status.HTTP_200_OK) -> Response:
        seal = selectors.seal_detail(user=self.request.user, pk=seal.pk)
        context = {**self.get_serializer_context(), "verification": records.seal_verify(seal)}
        return Response(s.SealDetailSerializer(seal, context=context).data, status=status_code)

    def retrieve(self, request, *args, **kwargs):
        seal = self.get_object()
        records.record_access(actor=request.user, action="view", consultation=seal.consultation, object_type="audit.seal",
                              object_id=seal.pk, details={"api": "seal", "seal": seal.pk})
        return self._detail(seal)

    def create(self, request, *args, **kwargs):
        data = s.SealCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        seal = run_service(records.seal_create, request=request, **data.validated_data)
        return self._detail(seal, status_code=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def unseal(self, request, pk=None):
        seal = self.get_object()
        data = s.SealReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(records.seal_release, request=request, seal=seal, **data.validated_data)
        return self._detail(seal)


# --- FHIR R4 AuditEvent (JL-A1) -----------------------------------------------------------------


class FhirAuditEventView(APIView):
    """Shared by search and read: the audit administrator and regulators only; errors keep the portal's
    ``{"code", "message", "extra"}`` contract as plain JSON."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [FhirJSONRenderer]
    content_negotiation_class = FhirNegotiation

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not selectors.may_read_audit_log(request.user):
            raise exceptions.PermissionDenied()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    def _base_url(self, request) -> str:
        return request.build_absolute_uri(reverse("audit-api:fhir-auditevent-search"))

    def _log_read(self, request, *, details: dict, event=None) -> None:
        scope = Scope.of(request.user)
        audit_event_append(
            actor=request.user, event_type=EventType.AUDIT_LOG_READ, obj=event,
            object_type="" if event is not None else "audit.auditevent",
            acting_division_code=scope.regulated[0][0] if scope.regulated else "", details=details,
        )

    @staticmethod
    def _resources(events) -> list[dict]:
        facilities, divisions = selectors.event_labels(events)
        return [
            fhir.audit_event_resource(
                e,
                facility_name=getattr(facilities.get(e.acting_facility_id), "name", ""),
                division_name=getattr(divisions.get(e.acting_division_code), "name", ""),
                type_display=selectors.event_label(e.event_type),
            )
            for e in events
        ]


def _reference(target: str) -> dict:
    """Issue 14 (found by the regulator's fuzz run): what ``fhir.parse_id`` takes — an id of at most 18
    digits, or ``<target>/<id>`` (as the facade's reference parameters); empty is no filter."""
    return {"type": "string", "pattern": f"^(({target}/)?[0-9]{{1,18}})?$"}


SEARCH_PARAMETERS = [
    OpenApiParameter("patient", _reference("Patient"), description="患者 id（或 Patient/id）：涉及该患者的事件"),
    OpenApiParameter("facility", _reference("Organization"), description="机构 id（或 Organization/id）：涉及该机构或代表该机构所做的事件"),
    OpenApiParameter("date", {"type": "array", "items": {"type": "string", "pattern": DATE_PATTERN}},
                     description="recorded 日期，可带前缀 eq/ne/gt/lt/ge/le，可重复：date=ge2026-11-01&date=le2026-11-30（含两端）"),
    OpenApiParameter("type", str, description="事件类型，精确或以“.”结尾的前缀（如 record.），逗号分隔为“或”"),
    OpenApiParameter("_count", {"type": "integer", "minimum": 1}, description="每页条数（默认 50，最多 500）"),
    OpenApiParameter("_page", {"type": "integer", "minimum": 1}, description="页码（从 1 开始）；翻页请使用 Bundle.link"),
    OpenApiParameter("pagination", str, enum=["cursor"], description="cursor：按事件序号升序的游标翻页（同步模式，深页与首页同价；无 total）"),
    OpenApiParameter("_cursor", str, description="上一页 Bundle.link next 中的游标（不透明）；无效为 400 cursor_invalid"),
]
DEFAULT_COUNT, MAX_COUNT = 50, 500


class FhirAuditEventSearch(FhirAuditEventView):
    @extend_schema(
        operation_id="fhir_auditevent_search",
        parameters=SEARCH_PARAMETERS,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR R4 Bundle (searchset) of AuditEvent"),
                   403: OpenApiResponse(description="permission_denied: 仅运维人员和卫生健康行政部门")},
        description="JL-A1: 审计日志，FHIR R4 AuditEvent（IHE ATNA）。卫生健康行政部门只看到其辖区机构的事件。",
    )
    def get(self, request):
        try:
            queryset = self._search(request)
            count = self._number(request, "_count", DEFAULT_COUNT, maximum=MAX_COUNT)
            page = self._number(request, "_page", 1)
        except fhir.SearchError as error:
            raise ApplicationError("invalid", str(error), {"parameter": str(error)}) from error
        if request.query_params.get("pagination") == "cursor" or request.query_params.get("_cursor"):
            return self._cursor_page(request, queryset, count)
        total = queryset.count()
        events = list(queryset.newest_first()[(page - 1) * count: page * count])  # issue 11: not yet chained first
        last_page = max(1, -(-total // count))
        links = {"self": self._page_url(request, page, count)}
        links["first"] = self._page_url(request, 1, count)
        if page > 1:
            links["previous"] = self._page_url(request, min(page - 1, last_page), count)
        if page < last_page:
            links["next"] = self._page_url(request, page + 1, count)
        links["last"] = self._page_url(request, last_page, count)
        bundle = fhir.searchset(resources=self._resources(events), total=total, base_url=self._base_url(request), links=links)
        self._log_read(request, details={"query": {k: request.query_params.getlist(k) for k in request.query_params},
                                         "total": total, "returned": len(events)})
        return Response(bundle)

    def _cursor_page(self, request, queryset, count: int) -> Response:
        """Issue 14: the sync mode — oldest first by ``sequence``, read after the cursor's last
        sequence. Only chained events are served (issue 11): the sequencer gives sequences in order under
        its lock, one batch per transaction, so sequences commit in order
        in order: a partner that pages to the end and keeps the last cursor misses no event and
        sees none twice. No ``total``: a deep page costs the same queries as the first."""
        after = 0
        if request.query_params.get("_cursor"):
            state = decode_cursor(request.query_params["_cursor"], kind="fhir:auditevent")
            if not isinstance(state.get("q"), int) or state["q"] < 0:
                raise cursor_invalid()
            after = state["q"]
        events = list(queryset.filter(sequence__gt=after).order_by("sequence")[: count + 1])
        more, events = len(events) > count, events[:count]
        last = events[-1].sequence if events else after
        resume = self._cursor_url(request, encode_cursor({"q": last}, kind="fhir:auditevent"), count)
        # "next" while more events wait; "resume" always: where to continue later (new events).
        links = {"self": request.build_absolute_uri(), **({"next": resume} if more else {}), "resume": resume}
        bundle = fhir.searchset(resources=self._resources(events), total=None, base_url=self._base_url(request), links=links)
        self._log_read(request, details={"query": {k: request.query_params.getlist(k) for k in request.query_params},
                                         "returned": len(events), "cursor": True})
        return Response(bundle)

    def _cursor_url(self, request, cursor: str, count: int) -> str:
        skipped = ("_page", "_count", "_cursor", "pagination")
        params = [(k, v) for k in request.query_params for v in request.query_params.getlist(k) if k not in skipped]
        params += [("pagination", "cursor"), ("_count", str(count)), ("_cursor", cursor)]
        return f"{self._base_url(request)}?{urlencode(params)}"

    @staticmethod
    def _number(request, name: str, default: int, *, maximum: int | None = None) -> int:
        value = request.query_params.get(name, "").strip()
        if not value:
            return default
        if not value.isdigit() or int(value) < 1:
            raise fhir.SearchError(f"{name} 须为正整数：{value}")
        return min(int(value), maximum) if maximum else int(value)

    def _page_url(self, request, page: int, count: int) -> str:
        params = [(k, v) for k in request.query_params for v in request.query_params.getlist(k) if k not in ("_page", "_count")]
        params += [("_count", str(count)), ("_page", str(page))]
        return f"{self._base_url(request)}?{urlencode(params)}"

    def _search(self, request):
        queryset = selectors.audit_event_list(user=request.user)
        params = request.query_params
        if params.get("patient"):
            queryset = selectors.audit_events_for_patient(queryset, fhir.parse_id("patient", params["patient"]))
        if params.get("facility"):
            queryset = selectors.audit_events_for_facility(queryset, fhir.parse_id("facility", params["facility"]))
        for value in params.getlist("date"):
            queryset = queryset.filter(fhir.date_range_filter(fhir.parse_date(value, local_zone=settings.TIME_ZONE)))
        if params.get("type"):
            condition = Q(pk__in=[])
            for code, is_prefix in fhir.parse_type(params["type"]):
                condition |= Q(event_type__startswith=code) if is_prefix else Q(event_type=code)
            queryset = queryset.filter(condition)
        return queryset


class FhirAuditEventRead(FhirAuditEventView):
    @extend_schema(
        operation_id="fhir_auditevent_read",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR R4 AuditEvent"),
                   403: OpenApiResponse(description="permission_denied"), 404: OpenApiResponse(description="not_found")},
    )
    def get(self, request, pk: int):
        event = get_object_or_404(selectors.audit_event_list(user=request.user), pk=pk)
        resource = self._resources([event])[0]
        self._log_read(request, event=event, details={"read": event.pk})
        return Response(resource)


# --- Signed checkpoints (JL-A1; issue 11) ---------------------------------------------------------

#: Issue 14: what the download answers, made by the same ``rules.checkpoint_document`` as the download.
CHECKPOINT_EXAMPLE = rules.checkpoint_document(
    size=40213, head_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    signed_at="2026-12-07T00:05:00.000000Z", signature_algorithm="ed25519", key_id="checkpoint-2026",
    public_key_b64="2k9b2xqS0pUuM0cXr0u0cQm1f6l6lWk2b3hVdXJ5Yk0=",
    public_key_sha256="3b1f0c4e8a2d6f9e7c5b3a1d0e8f6c4b2a0d9e7f5c3b1a0e8d6f4c2b0a9e7d5c",
    signature_b64="b3JpZ2luYWwgc2lnbmF0dXJlIG9mIHRoZSBjaGVja3BvaW50IHN0YXRlbWVudA==",
)


@extend_schema_view(
    list=extend_schema(description="JL-A1: 已签署的审计日志检查点（最新在前），仅运维人员和卫生健康行政部门。"),
    retrieve=extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="检查点文件：签名字段、签名、公钥及其 SHA-256 指纹",
                                        examples=[OpenApiExample("checkpoint", summary="Ed25519 签署的检查点", value=CHECKPOINT_EXAMPLE)])},
        description="JL-A1: 下载一份检查点以便保存（记入审计日志），日后用 manage.py audit_verify --checkpoint 核对。",
    ),
)
class AuditCheckpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """审计日志检查点: signed (size, head hash) pairs for regulators to keep."""

    serializer_class = s.AuditCheckpointSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.checkpoint_list(user=self.request.user)

    def retrieve(self, request, *args, **kwargs):
        checkpoint = self.get_object()
        return Response(services.audit_checkpoint_download(actor=request.user, checkpoint=checkpoint))
