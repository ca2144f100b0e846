"""Partner API for two-way referral (JL-C10, art. 9): ``/api/v1/referrals/``.

Rows come from ``selectors.referral_list`` (both facilities of the case and their regulators;
anything else is a 404). ``POST /referrals/`` offers a referral (the receiving facility's
coordinator); ``confirm``, ``decline``, ``transfer`` and ``cancel`` take the steps of
``rules.REFERRAL_EDGES``. The services decide; a refusal answers with its stable code
(``referral_not_recommended``, ``referral_down_too_early``, ``referral_open_exists``,
``referral_time_past``, ``invalid_transition``, ``JL-F5``, ``JL-C8``). A list or a read shows the
patient's name and is logged (JL-C8: ``record.list`` / ``record.view``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.records import record_access, require_access_purpose
from facilities.choices import StaffRole
from telemed.api import ReasonSerializer, Roles, run_service

from .. import selectors, services
from ..models import Referral
from . import serializers as s
from .views import AccessLoggedReadsMixin, ClinicalViewSet, _validated

COORDINATION = Roles(staff=(StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM))


@extend_schema_view(
    list=extend_schema(
        parameters=[s.ReferralQuerySerializer],
        description="JL-C10: 双方机构及其监管部门可见；按方向、状态筛选，最新的在前。JL-C8: 每次列表均记入调阅日志。",
    ),
    retrieve=extend_schema(
        parameters=[OpenApiParameter("purpose", str, description="JL-C8: 调阅目的；所属病历封存时必填（否则 400 JL-C8）")],
    ),
    create=extend_schema(
        request=s.ReferralOfferSerializer, responses={201: s.ReferralSerializer},
        description="JL-C10: 接收方提供转诊安排（上转由受邀方、下转由邀请方）。上转须现行版本的意见/报告建议转诊"
        "（否则 referral_not_recommended）；下转须上转已登记转出（referral_down_too_early）。",
    ),
    confirm=extend_schema(request=None, responses=s.ReferralSerializer),
    transfer=extend_schema(request=None, responses=s.ReferralSerializer),
    decline=extend_schema(request=ReasonSerializer, responses=s.ReferralSerializer),
    cancel=extend_schema(request=ReasonSerializer, responses=s.ReferralSerializer),
)
class ReferralViewSet(AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicalViewSet):
    """双向转诊 (JL-C10)."""

    access_what = "consultations.referral"
    serializer_class = s.ReferralSerializer
    filter_backends: list = []  # the selector filters; its query parameters are validated in get_queryset
    action_roles = {name: COORDINATION for name in ("create", "confirm", "decline", "transfer", "cancel")}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        if self.detail:
            return selectors.referral_list(user=self.request.user)
        query = s.ReferralQuerySerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return selectors.referral_list(
            user=self.request.user, direction=params.get("direction", ""), state=params.get("state", ""),
            consultation_id=params.get("consultation"),
        )

    def get_object(self) -> Referral:
        try:
            referral = self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except Referral.DoesNotExist:
            raise exceptions.NotFound() from None
        self.check_object_permissions(self.request, referral)
        return referral

    def acting_on(self, obj):
        return [obj.sending_id, obj.receiving_id], [obj.sending.division_id, obj.receiving.division_id]

    def log_view(self, request, referral) -> None:
        consultation = referral.consultation
        purpose = require_access_purpose(actor=request.user, consultation=consultation, purpose=request.query_params.get("purpose", ""))
        record_access(actor=request.user, action="view", consultation=consultation, purpose=purpose,
                      object_type="consultations.referral", object_id=referral.pk, details={"api": "referral"})

    def _render(self, referral, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.referral_list(user=self.request.user).get(pk=referral.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    def create(self, request):
        values = _validated(s.ReferralOfferSerializer, request, self)
        referral = run_service(services.referral_offer, request=request, **values)
        return self._render(referral, status_code=status.HTTP_201_CREATED)

    def _step(self, request, service, body=None) -> Response:
        referral = self.get_object()
        values = _validated(body, request, self) if body is not None else {}
        run_service(service, request=request, referral=referral, **values)
        return self._render(referral)

    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """The sending facility confirms the place offered."""
        return self._step(request, services.referral_confirm)

    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """The sending facility declines, with a reason."""
        return self._step(request, services.referral_decline, ReasonSerializer)

    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """The sending facility records that the patient has left."""
        return self._step(request, services.referral_transfer)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Either facility cancels an open referral (the receiving one withdraws an offer), with a reason."""
        return self._step(request, services.referral_cancel, ReasonSerializer)
