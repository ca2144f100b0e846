"""Partner API for the consultations app: a thin layer that validates, calls one service, renders.

Scoping (STYLE 3): rows come from ``Model.objects.visible_to(user)`` — through
``ScopedViewSetMixin`` or ``consultations.selectors`` — so an object out of scope is a 404, and
the invited facility does not see a draft. Roles: a wrong role is a 403 (``permission_denied``)
before the body is validated — from ``action_roles`` for the writes outside the state graph, and
from ``rules.decide_transition`` for the graph's actions (the same decision that fills
``allowed_actions``). The services decide again and are the authority; a rule refusal is a 400
with the rule ID as ``code`` and every failing check in ``extra.reasons``.

Medical records under the law (JL-C8, JL-C9, art. 35): every read of patient data is an access on
record — a list writes ``record.list`` naming the rows it returned, a retrieve ``record.view``, a
download ``record.download``, ``?reveal=1`` on a patient ``record.reveal``. A sealed consultation
answers only to a stated ``?purpose=`` (else 400 ``JL-C8``), which is logged. Identity and phone
numbers are masked unless revealed to the patient's own hospital.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, filters, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from audit.records import record_access, record_list_access, require_access_purpose
from consultations.services._common import FACILITY_RULES
from facilities.choices import StaffRole
from facilities.models import Facility
from telemed.api import (
    ActionRolePermission,
    ReasonSerializer,
    Roles,
    ScopedViewSetMixin,
    VersionedResourceMixin,
    require_roles,
    run_service,
)
from telemed.errors import ApplicationError
from telemed.filters import FilterBackend, IdFilter
from telemed.pagination import SyncPagination, cursor_mode_requested
from telemed.scope import Scope

from .. import rules, selectors, services
from ..choices import ObligationState, TriggerKind
from ..models import Admission, Consultation, Obligation, Patient
from . import serializers as s
from .list_statements import CompiledRows

# Who may record clinical data for their facility (as consultations.services.patients).
CLINICAL = Roles(staff=(StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM))
INVITED_COORDINATOR = Roles(staff=(StaffRole.COORDINATOR,))

# The state graph's actions (rules.EDGES) as they appear in the API's URLs.
GRAPH_ACTIONS = {
    "send": "send",
    "accept": "accept",
    "decline": "decline",
    "return_material": "return",
    "cancel": "cancel",
    "schedule": "schedule",
    "start_session": "start",
    "sign": "sign",
    "correct": "correct",
    "close": "close",
}


class AccessLoggedReadsMixin:
    """JL-C8 (art. 35): ``list`` and ``retrieve`` write the access before they answer.

    A list logs the rows of the page it returns (``record.list``; a search is logged even when
    it finds nobody, its terms masked); a retrieve logs ``record.view`` through ``log_view``.
    """

    access_what = ""  # the object type of the rows, e.g. "consultations.admission"
    access_search_params = ("search",)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        searched = any(request.query_params.get(name, "").strip() for name in self.access_search_params)
        if rows or searched:
            record_list_access(
                actor=request.user, what=self.access_what, rows=rows,
                filters=selectors.access_filters(request.query_params),
            )
        data = self.get_serializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        self.log_view(request, obj)
        return Response(self.get_serializer(obj).data)

    def log_view(self, request, obj) -> None:
        """A row that belongs to a patient (admission, obligation): a view of that patient's record."""
        record_access(
            actor=request.user, action="view", patient=obj.patient, purpose=request.query_params.get("purpose", ""),
            object_type=self.access_what, object_id=obj.pk,
        )


class ClinicalViewSet(VersionedResourceMixin, viewsets.GenericViewSet):
    """Base of this app's viewsets: authenticated, ``action_roles`` enforced, numeric ids only."""

    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles: dict[str, Roles] = {}
    lookup_value_regex = r"\d+"

    def acting_on(self, obj) -> tuple[list[int], list[str]]:
        """The facilities an object belongs to and their division codes, for ``action_roles``."""
        return [obj.facility_id], [obj.facility.division_id]

    def _render(self, obj, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=status_code)


def _validated(serializer_class, request, view) -> dict:
    data = serializer_class(data=request.data, context=view.get_serializer_context())
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


# --- Patients ------------------------------------------------------------------------------------


class PatientSearchFilter(filters.SearchFilter):
    """``?search=``: each word matches a name in part, or an identity or phone number in full through its
    blind index (JL-A2; the column holds ciphertext) — a partial number finds nobody (JL-C9)."""

    def filter_queryset(self, request, queryset, view):
        for term in self.get_search_terms(request):
            queryset = queryset.filter(Q(name__icontains=term) | Patient.objects.number_q(term))
        return queryset


class PatientFilter(django_filters.FilterSet):
    class Meta:
        model = Patient
        fields = ["external_id", "medical_record_number"]


@extend_schema_view(
    list=extend_schema(description="JL-C9: 身份证件号码和电话脱敏；按姓名模糊搜索，证件号、电话须完整匹配。JL-C8: 每次列表均记入调阅日志。"),
    retrieve=extend_schema(
        parameters=[
            OpenApiParameter("reveal", OpenApiTypes.BOOL, description="JL-C9: 1 = 返回完整证件号码和电话（仅限患者所在医院的临床医师和远程医疗管理人员，否则 403），记入调阅日志"),
            OpenApiParameter("purpose", str, description="调阅目的（记入调阅日志）"),
        ],
        responses={200: s.PatientSerializer},
    ),
    create=extend_schema(
        request=s.PatientRegisterSerializer,
        responses={201: s.PatientSerializer, 200: s.PatientSerializer},
        description="幂等：同一 external_id 再次推送时返回已有患者（200）。",
    ),
)
class PatientViewSet(
    AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, ClinicalViewSet
):
    """患者: the inviting facility's own patient index, pushed by its HIS."""

    access_what = "consultations.patient"
    access_search_params = ("search", "medical_record_number", "external_id")
    queryset = Patient.objects.select_related("facility")
    serializer_class = s.PatientSerializer
    filterset_class = PatientFilter
    # Identity and phone numbers match only in full: a partial number must not find anyone (JL-C9).
    filter_backends = [FilterBackend, PatientSearchFilter, filters.OrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]
    action_roles = {"create": CLINICAL}

    def create(self, request):
        values = _validated(s.PatientRegisterSerializer, request, self)
        facility = values.pop("facility", None) or _only_facility(request.user, CLINICAL)
        require_roles(request.user, CLINICAL, facility_ids=[facility.pk])
        existed = bool(values["external_id"]) and Patient.objects.filter(
            facility=facility, external_id=values["external_id"]
        ).exists()
        patient = run_service(services.patient_register, request=request, facility=facility, **values)
        return self._render(patient, status_code=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    def retrieve(self, request, *args, **kwargs):
        """``?reveal=1``: the full identity and phone numbers (JL-C9), for the clinicians and
        coordinators of the patient's own hospital only (others: 403); logged as ``record.reveal``."""
        patient = self.get_object()
        purpose = request.query_params.get("purpose", "")
        if request.query_params.get("reveal", "") not in ("1", "true"):
            record_access(actor=request.user, action="view", patient=patient, purpose=purpose)
            return Response(self.get_serializer(patient).data)
        if not selectors.may_reveal_identity(user=request.user, patient=patient):
            raise ApplicationError(
                "permission_denied",
                "JL-C9 第三十六条: 只有患者所在医院的临床医师和远程医疗管理人员可以查看完整的证件号码和电话。",
                status=status.HTTP_403_FORBIDDEN,
            )
        record_access(
            actor=request.user, action="reveal", patient=patient, purpose=purpose,
            details={"fields": ["id_number", "phone"]},
        )
        response = Response(s.PatientRevealedSerializer(patient, context=self.get_serializer_context()).data)
        response["Cache-Control"] = "private, no-store"
        return response


def _only_facility(user, roles: Roles) -> Facility:
    """The one facility where ``user`` holds ``roles`` (a partner system serves one hospital)."""
    facility_ids = Scope.of(user).facilities_with_role(*roles.staff)
    if len(facility_ids) != 1:
        raise exceptions.ValidationError({"facility": ["您属于多家机构，请指明机构 id。"]})
    return Facility.objects.get(pk=facility_ids[0])


# --- Admissions (JL-C2 (1)) ----------------------------------------------------------------------


class AdmissionFilter(django_filters.FilterSet):
    patient = IdFilter(field_name="patient")
    discharged = django_filters.BooleanFilter(field_name="discharged_at", lookup_expr="isnull", exclude=True, label="已出院")
    diagnosed = django_filters.BooleanFilter(
        field_name="diagnosis_confirmed_at", lookup_expr="isnull", exclude=True, label="已明确诊断"
    )

    class Meta:
        model = Admission
        fields = ["patient", "discharged", "diagnosed", "external_id"]


@extend_schema_view(
    create=extend_schema(request=s.AdmissionRecordSerializer, responses={201: s.AdmissionSerializer}),
    diagnosis=extend_schema(request=s.DiagnosisSerializer, responses=s.AdmissionSerializer),
    discharge=extend_schema(request=s.DischargeSerializer, responses=s.AdmissionSerializer),
)
class AdmissionViewSet(
    AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, ClinicalViewSet
):
    """住院: JL-C2 (1) runs from the admission time until a diagnosis is confirmed."""

    access_what = "consultations.admission"

    queryset = Admission.objects.select_related("facility", "patient")
    serializer_class = s.AdmissionSerializer
    filterset_class = AdmissionFilter
    search_fields = ["=inpatient_number", "patient__name"]
    ordering_fields = ["admitted_at"]
    ordering = ["-admitted_at", "id"]
    action_roles = {"create": CLINICAL, "diagnosis": CLINICAL, "discharge": CLINICAL}

    def create(self, request):
        values = _validated(s.AdmissionRecordSerializer, request, self)
        require_roles(request.user, CLINICAL, facility_ids=[values["patient"].facility_id])
        admission = run_service(services.admission_record, request=request, **values)
        return self._render(admission, status_code=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def diagnosis(self, request, pk=None):
        """A confirmed diagnosis stops art. 22 (1) from arising."""
        admission = self.get_object()
        values = _validated(s.DiagnosisSerializer, request, self)
        run_service(services.admission_confirm_diagnosis, request=request, admission=admission, **values)
        return self._render(admission)

    @action(detail=True, methods=["post"])
    def discharge(self, request, pk=None):
        admission = self.get_object()
        values = _validated(s.DischargeSerializer, request, self)
        run_service(services.admission_discharge, request=request, admission=admission, **values)
        return self._render(admission)


# --- JL-C2: the 24-hour obligations --------------------------------------------------------------


class ObligationFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[*ObligationState.choices, ("all", "全部")], method="filter_state", label="状态（默认 open；all 为全部）"
    )
    patient = IdFilter(field_name="patient")
    trigger = django_filters.ChoiceFilter(choices=TriggerKind.choices)

    class Meta:
        model = Obligation
        fields = ["state", "patient", "trigger"]

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get("state"):
            data = data.copy()
            # Issue 14: a partner's sync (cursor mode) sees every state, or it would never learn of a
            # met or withdrawn obligation; the page-number list keeps its default (open only).
            data["state"] = "all" if cursor_mode_requested(data) else ObligationState.OPEN
        super().__init__(data, *args, **kwargs)

    def filter_state(self, queryset, name, value):
        return queryset if value == "all" else queryset.filter(state=value)


@extend_schema_view(
    list=extend_schema(description="JL-C2: 默认只列待上传的义务，按截止时间排序；seconds_remaining 为剩余秒数。"
                       "同步模式（pagination=cursor 或 updated_since）：默认列出全部状态，按 (updated_at, id) 排序。"),
    create=extend_schema(request=s.ObligationOpenSerializer, responses={201: s.ObligationSerializer}),
    withdraw=extend_schema(request=ReasonSerializer, responses=s.ObligationSerializer),
)
class ObligationViewSet(
    AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, ClinicalViewSet
):
    """24小时上传义务 (JL-C2, art. 22)."""

    access_what = "consultations.obligation"

    queryset = Obligation.objects.select_related("facility", "patient", "consultation")
    serializer_class = s.ObligationSerializer
    filterset_class = ObligationFilter
    search_fields = ["patient__name"]
    ordering_fields = ["due_at"]
    ordering = ["due_at", "id"]
    pagination_class = SyncPagination  # issue 14: ?updated_since= / ?pagination=cursor
    action_roles = {"create": CLINICAL, "withdraw": CLINICAL}

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def create(self, request):
        values = _validated(s.ObligationOpenSerializer, request, self)
        require_roles(request.user, CLINICAL, facility_ids=[values["patient"].facility_id])
        obligation = run_service(services.obligation_open, request=request, **values)
        return self._render(obligation, status_code=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """E.g. the patient left before the deadline; the reason is kept for the regulator."""
        obligation = self.get_object()
        values = _validated(ReasonSerializer, request, self)
        run_service(services.obligation_withdraw, request=request, obligation=obligation, **values)
        return self._render(obligation)


# --- Requests ------------------------------------------------------------------------------------


def decide(user, consultation: Consultation, graph_action: str) -> rules.TransitionDecision:
    return rules.decide_transition(
        state=consultation.state,
        action=graph_action,
        category=consultation.service_type.category,
        actor=selectors.case_actor(user=user, consultation=consultation),
        inviting_suspended=consultation.inviting_suspended,
        invited_suspended=consultation.invited_suspended,
    )


def allowed_actions(user, consultation: Consultation) -> list[dict]:
    """The graph's actions ``user`` may take now, as ``{"action", "label"}`` (API action names)."""
    allowed = []
    for graph_action, api_action in GRAPH_ACTIONS.items():
        decision = decide(user, consultation, graph_action)
        if decision.allowed:
            allowed.append({"action": api_action, "label": decision.edge.label})
    return allowed


@extend_schema_view(
    list=extend_schema(parameters=[s.ConsultationQuerySerializer], responses=s.ConsultationListSerializer(many=True)),
    retrieve=extend_schema(
        parameters=[OpenApiParameter("purpose", str, description="JL-C8: 调阅目的；封存的病历必填（否则 400 JL-C8），记入调阅日志")],
    ),
    create=extend_schema(request=s.ConsultationCreateSerializer, responses={201: s.ConsultationDetailSerializer}),
    consent=extend_schema(request={"multipart/form-data": s.ConsentRecordSerializer}, responses={201: s.ConsentSerializer}),
    participants=extend_schema(request=s.ParticipantAddSerializer, responses={201: s.ParticipantSerializer}),
    documents=extend_schema(request={"multipart/form-data": s.DocumentUploadSerializer}, responses={201: s.DocumentSerializer}),
    download=extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="文件（附件）")},
        parameters=[OpenApiParameter("purpose", str, description="JL-C8: 下载目的；封存的病历必填（否则 400 JL-C8）")],
        description="JL-C5, JL-C8: 仅当申请对您可见时下载；每次下载记入调阅日志（record.download）。",
    ),
    send=extend_schema(request=None, responses=s.ConsultationDetailSerializer),
    accept=extend_schema(request=None, responses=s.ConsultationDetailSerializer),
    decline=extend_schema(request=ReasonSerializer, responses=s.ConsultationDetailSerializer),
    return_material=extend_schema(request=s.ReturnMaterialSerializer, responses=s.ConsultationDetailSerializer),
    cancel=extend_schema(request=ReasonSerializer, responses=s.ConsultationDetailSerializer),
    assign=extend_schema(request=s.ExpertAssignSerializer, responses={201: s.ParticipantSerializer}),
    experts=extend_schema(responses=s.ExpertCandidateSerializer(many=True)),
    schedule=extend_schema(request=s.ScheduleSerializer, responses=s.ConsultationDetailSerializer),
    start_session=extend_schema(request=None, responses=s.ConsultationDetailSerializer),
    sign=extend_schema(request=s.SignSerializer, responses={201: s.OpinionSerializer}),
    correct=extend_schema(request=s.CorrectSerializer, responses={201: s.OpinionSerializer}),
    close=extend_schema(request=None, responses=s.ConsultationDetailSerializer),
    rate=extend_schema(request=s.RateSerializer, responses={201: s.RatingSerializer}),
)
class ConsultationViewSet(AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicalViewSet):
    """远程医疗申请 (JL-C1..C7, JL-O5): reads through ``consultations.selectors``."""

    access_what = "consultations.consultation"

    serializer_class = s.ConsultationDetailSerializer
    pagination_class = SyncPagination  # issue 14: ?updated_since= / ?pagination=cursor
    filter_backends: list = []  # the selector filters; its query parameters are validated in get_queryset
    action_roles = {
        "create": CLINICAL,
        "consent": CLINICAL,
        "participants": CLINICAL,
        "documents": CLINICAL,
        "rate": CLINICAL,
        "assign": INVITED_COORDINATOR,
        "experts": INVITED_COORDINATOR,
    }

    def get_serializer_class(self):
        return s.ConsultationListSerializer if self.action == "list" else s.ConsultationDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Consultation.objects.none()
        query_params = self.request.query_params
        if any(name in query_params for name in s.ConsultationQuerySerializer._declared_fields):
            query = s.ConsultationQuerySerializer(data=query_params.dict())
            query.is_valid(raise_exception=True)
            params = query.validated_data
        else:
            params = {}  # issue 11: nothing to validate (every parameter is optional, ``open`` defaults to False)
        queryset = selectors.consultation_list(
            user=self.request.user,
            side=params.get("side", ""),
            state=params.get("state", ""),
            search=params.get("search", ""),
            open_only=params.get("open", False),
            suspension_flags=False,
        )
        if self.action != "list":
            return queryset
        # Issue 11: the list reads plain rows of the columns it shows (no model instances, nothing to decrypt);
        # the page numbers' COUNT and page compile the scope once (list_statements; the sync cursor filters further).
        if not cursor_mode_requested(query_params) and CompiledRows.applies_to(queryset):
            return CompiledRows(queryset, s.ConsultationListRows.columns)
        return s.ConsultationListRows.rows(queryset)

    def get_object(self) -> Consultation:
        consultation = self._detail(int(self.kwargs["pk"]))
        self.check_object_permissions(self.request, consultation)
        return consultation

    def _detail(self, pk: int) -> Consultation:
        try:
            consultation = selectors.consultation_detail(user=self.request.user, pk=pk)
        except Consultation.DoesNotExist:
            raise exceptions.NotFound() from None
        consultation.allowed_actions = allowed_actions(self.request.user, consultation)
        return consultation

    def _render(self, obj, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self._detail(obj.pk)).data, status=status_code)

    def access_purpose(self, consultation: Consultation, action: str = "view") -> str:
        """JL-C8 (art. 37): a sealed consultation is read only for a stated ``?purpose=``."""
        return require_access_purpose(
            actor=self.request.user, consultation=consultation, purpose=self.request.query_params.get("purpose", ""),
            action=action,
        )

    def log_view(self, request, consultation) -> None:
        record_access(
            actor=request.user, action="view", consultation=consultation, purpose=self.access_purpose(consultation),
            details={"api": "consultation"},
        )

    def _created(self, serializer_class, obj) -> Response:
        return Response(serializer_class(obj, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED)

    def acting_on(self, obj):
        facility = obj.invited if self.action in ("assign", "experts") else obj.inviting
        return [facility.pk], [facility.division_id]

    def require_transition(self, consultation: Consultation, graph_action: str) -> None:
        """Answer a wrong role (403), a move outside the graph or a suspension (400) before the
        body is read — the same decision the service takes again."""
        decision = decide(self.request.user, consultation, graph_action)
        # A suspension (JL-F5) is left to the service, which puts the refusal on record (JL-A1).
        if not decision.allowed and decision.code not in FACILITY_RULES:
            raise ApplicationError(
                decision.code,
                decision.message,
                {"reasons": [c.as_dict() for c in decision.reasons]},
                status=decision.status,
            )

    # --- Draft (JL-C1, JL-C4) and what goes with it (JL-C3, JL-C5) -------------------------------

    def create(self, request):
        values = _validated(s.ConsultationCreateSerializer, request, self)
        patient = values["patient"]
        require_roles(request.user, CLINICAL, facility_ids=[patient.facility_id])
        consultation = run_service(services.consultation_create, request=request, inviting=patient.facility, **values)
        return self._render(consultation, status_code=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def consent(self, request, pk=None):
        """JL-C3 (art. 20, 21, 23; PIPL art. 29): informed consent, multipart with the signed copy."""
        consultation = self.get_object()
        values = _validated(s.ConsentRecordSerializer, request, self)
        consent = run_service(services.consent_record, request=request, consultation=consultation, **values)
        return self._created(s.ConsentSerializer, consent)

    @action(detail=True, methods=["post"])
    def participants(self, request, pk=None):
        """JL-C3 (art. 23): name an attending physician of the inviting facility (JL-P1..P3, P6)."""
        consultation = self.get_object()
        values = _validated(s.ParticipantAddSerializer, request, self)
        participant = run_service(services.participant_add_inviting, request=request, consultation=consultation, **values)
        return self._created(s.ParticipantSerializer, participant)

    @action(detail=True, methods=["post"])
    def documents(self, request, pk=None):
        """JL-C5 (art. 29): upload material; the portal keeps its SHA-256, size, real type, uploader."""
        consultation = self.get_object()
        values = _validated(s.DocumentUploadSerializer, request, self)
        document = run_service(
            services.document_upload,
            request=request,
            consultation=consultation,
            kind=values["kind"],
            title=values["title"],
            upload=values["file"],
        )
        return self._created(s.DocumentSerializer, document)

    @action(detail=True, methods=["get"], url_path=r"documents/(?P<document_id>\d+)/download", url_name="download")
    def download(self, request, pk=None, document_id=None):
        """Stream one document as an attachment, only to a user who sees the request (JL-C8: logged)."""
        consultation = self.get_object()
        document = next((d for d in consultation.documents.all() if d.pk == int(document_id)), None)
        if document is None:
            raise exceptions.NotFound()
        record_access(
            actor=request.user,
            action="download",
            consultation=consultation,
            purpose=self.access_purpose(consultation, "download"),
            object_type="consultations.document",
            object_id=document.pk,
            details={"sha256": document.sha256, "size": document.size, "api": "download"},
        )
        response = FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name,
            content_type=document.content_type,
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-SHA256"] = document.sha256
        return response

    # --- The state graph (rules.EDGES) ------------------------------------------------------------

    def _move(self, request, graph_action: str, service, body=None) -> Response:
        """POST {id}/<action>/ along one edge of ``rules.EDGES``; answers with the request."""
        consultation = self.get_object()
        self.require_transition(consultation, graph_action)
        values = _validated(body, request, self) if body is not None else {}
        run_service(service, request=request, consultation=consultation, **values)
        return self._render(consultation)

    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Send, or re-send after a return: JL-F1..F5, JL-C3 consent and participant; meets JL-C2."""
        return self._move(request, "send", services.consultation_send)

    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The invited facility accepts (JL-C4); responsibility is recorded (JL-C7)."""
        return self._move(request, "accept", services.consultation_accept)

    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """JL-C4: the invited facility declines, with a reason."""
        return self._move(request, "decline", services.consultation_decline, ReasonSerializer)

    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_material(self, request, pk=None):
        """JL-C5 (art. 29): the invited side returns material as insufficient, with a reason."""
        consultation = self.get_object()
        self.require_transition(consultation, "return_material")
        values = _validated(s.ReturnMaterialSerializer, request, self)
        known = {d.pk for d in consultation.documents.all()}
        unknown = sorted(set(values["document_ids"]) - known)
        if unknown:
            raise exceptions.ValidationError({"document_ids": [f"不是本申请的资料：{unknown}"]})
        run_service(services.consultation_return_material, request=request, consultation=consultation, **values)
        return self._render(consultation)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """The inviting side cancels, with a reason."""
        return self._move(request, "cancel", services.consultation_cancel, ReasonSerializer)

    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """The invited side schedules (or reschedules) the session."""
        return self._move(request, "schedule", services.consultation_schedule, s.ScheduleSerializer)

    @action(detail=True, methods=["post"], url_path="start", url_name="start")
    def start_session(self, request, pk=None):
        """The invited side (or the assigned expert) starts the session."""
        return self._move(request, "start_session", services.consultation_start_session)

    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """The inviting side confirms receipt of the signed opinion or report and closes."""
        return self._move(request, "close", services.consultation_close)

    @action(detail=True, methods=["get"])
    def experts(self, request, pk=None):
        """The physicians of the invited facility who would pass every JL-P check for this case
        (JL-P5 against the service's own speciality for a diagnosis) and the title wanted (JL-C4):
        whom ``assign`` will accept as of now. No patient data."""
        consultation = self.get_object()
        candidates = selectors.expert_candidates(user=request.user, consultation=consultation, on=timezone.localdate())
        return Response(s.ExpertCandidateSerializer(candidates, many=True).data)

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """The invited coordinator assigns an expert: every JL-P check as of now (JL-P1..P6)."""
        consultation = self.get_object()
        values = _validated(s.ExpertAssignSerializer, request, self)
        participant = run_service(services.expert_assign, request=request, consultation=consultation, **values)
        return self._created(s.ParticipantSerializer, participant)

    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """JL-C6: the assigned expert signs; the opinion becomes immutable."""
        consultation = self.get_object()
        self.require_transition(consultation, "sign")
        values = _validated(s.SignSerializer, request, self)
        opinion = run_service(services.opinion_sign, request=request, consultation=consultation, **values)
        return self._created(s.OpinionSerializer, opinion)

    @action(detail=True, methods=["post"])
    def correct(self, request, pk=None):
        """JL-C6: a correction is a new signed version pointing to the latest one, with a reason."""
        consultation = self.get_object()
        self.require_transition(consultation, "correct")
        values = _validated(s.CorrectSerializer, request, self)
        corrects = next((o for o in consultation.opinions.all() if o.pk == values["opinion"]), None)
        if corrects is None:
            raise exceptions.ValidationError({"opinion": ["不是本申请的意见或报告。"]})
        opinion = run_service(
            services.opinion_sign,
            request=request,
            consultation=consultation,
            content=values["content"],
            structure=values["structure"],
            corrects=corrects,
            correction_reason=values["correction_reason"],
            recommends_transfer=values["recommends_transfer"],
            transfer_reason=values["transfer_reason"],
        )
        return self._created(s.OpinionSerializer, opinion)

    @action(detail=True, methods=["post"])
    def rate(self, request, pk=None):
        """JL-O5 (art. 46.3): satisfaction of the inviting physician or the patient, after closing."""
        consultation = self.get_object()
        values = _validated(s.RateSerializer, request, self)
        rating = run_service(services.rating_record, request=request, consultation=consultation, **values)
        return self._created(s.RatingSerializer, rating)
