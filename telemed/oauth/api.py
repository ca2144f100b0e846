"""API of partner applications under /api/v1/oauth/ (issue 14).

``oauth/token/`` is the token endpoint (``token.PartnerTokenView``). ``oauth/clients/`` lists,
registers (the answer carries the ``client_secret``, this once only), retrieves, rotates
(``POST …/<id>/rotate/``, the new secret once) and revokes (``POST …/<id>/revoke/``) the
applications of the caller's facilities (facility administrators) or divisions (regulators).
These routes are for people, never for an application (``rules.NOT_FOR_CLIENTS``); anyone
else's application is a 404.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from facilities.models import Division, Facility
from telemed.api import ReasonSerializer, VersionedResourceMixin, run_service
from telemed.errors import ApplicationError

from . import (
    rules,
    schema,  # noqa: F401 - registers the OAuth2 security scheme
    services,
)
from .models import PartnerClient
from .token import PartnerTokenView


class PartnerClientSerializer(serializers.ModelSerializer):
    client_id = serializers.CharField(source="application.client_id", read_only=True)
    facility = serializers.IntegerField(source="facility_id", required=False, allow_null=True,
                                        help_text="所属医疗机构（机构管理员）；与 division 二者取一")
    division = serializers.CharField(source="division_id", required=False, allow_null=True,
                                     help_text="所属行政区划代码（卫生健康委的系统，监管人员登记）")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=rules.SCOPE_CHOICES), allow_empty=False,
                                   help_text="授权范围：" + "、".join(rules.SCOPES))
    active = serializers.SerializerMethodField()

    class Meta:
        model = PartnerClient
        fields = ["id", "client_id", "name", "facility", "division", "scopes", "rate_per_minute", "expires_at",
                  "created_at", "secret_rotated_at", "previous_secret_until", "revoked_at", "revoke_reason",
                  "last_used_at", "active"]
        read_only_fields = ["id", "client_id", "created_at", "secret_rotated_at", "previous_secret_until",
                            "revoked_at", "revoke_reason", "last_used_at", "active"]

    def get_active(self, client) -> bool:
        return client.revoked_at is None


class PartnerClientCreatedSerializer(PartnerClientSerializer):
    client_secret = serializers.CharField(read_only=True, help_text="密钥：仅在本次应答中出现一次，平台只保存其哈希")

    class Meta(PartnerClientSerializer.Meta):
        fields = [*PartnerClientSerializer.Meta.fields, "client_secret"]


class RotateSerializer(serializers.Serializer):
    overlap_hours = serializers.IntegerField(required=False, min_value=0,
                                             help_text="旧密钥继续有效的小时数（默认 TELEMED_OAUTH_ROTATION_OVERLAP_HOURS）")


class RotatedSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField(help_text="新密钥：仅在本次应答中出现一次")
    previous_secret_until = serializers.DateTimeField(allow_null=True)


def _owner(data) -> dict:
    facility_id, division_code = data.get("facility_id"), data.get("division_id")
    if facility_id is not None and division_code:
        raise ApplicationError("invalid", _("请选择对接应用所属的医疗机构或行政区划（二者取一）。"))
    if facility_id is not None:
        facility = Facility.objects.filter(pk=facility_id).first()
        if facility is None:
            raise ApplicationError("invalid", _("提交的数据有误，请按提示修改。"), {"fields": {"facility": [_("机构不存在。")]}})
        return {"facility": facility}
    division = Division.objects.filter(pk=division_code).first() if division_code else None
    if division is None:
        raise ApplicationError("invalid", _("请选择对接应用所属的医疗机构或行政区划（二者取一）。"))
    return {"division": division}


@extend_schema_view(
    list=extend_schema(description="本机构（或本区划）登记的对接应用（不含密钥）。", tags=["oauth"]),
    retrieve=extend_schema(description="一个对接应用（不含密钥）。", tags=["oauth"]),
    create=extend_schema(request=PartnerClientSerializer, responses={201: PartnerClientCreatedSerializer},
                         description="登记对接应用（机构管理员）；应答中的 client_secret 仅出现这一次。", tags=["oauth"]),
)
class PartnerClientViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = PartnerClientSerializer
    queryset = PartnerClient.objects.select_related("application").order_by("-created_at", "-id")
    filter_backends: list = []

    def get_queryset(self):
        return super().get_queryset().managed_by(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client, secret = run_service(
            services.partner_client_register, request=request, name=data["name"], scopes=data["scopes"],
            rate_per_minute=data.get("rate_per_minute"), expires_at=data.get("expires_at"), **_owner(data),
        )
        body = PartnerClientCreatedSerializer(client).data
        body["client_secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=RotateSerializer, responses={200: RotatedSerializer}, tags=["oauth"],
                   description="轮换密钥：新密钥仅在本次应答中出现；旧密钥在过渡期内仍可换取令牌。")
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        client = self.get_object()
        body = RotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        secret = run_service(services.partner_client_rotate, request=request, client=client,
                             overlap_hours=body.validated_data.get("overlap_hours"))
        return Response({"client_id": client.client_id, "client_secret": secret,
                         "previous_secret_until": client.previous_secret_until})

    @extend_schema(request=ReasonSerializer, responses={200: PartnerClientSerializer}, tags=["oauth"],
                   description="吊销：其访问令牌立即失效，密钥不能再换取令牌。须说明原因。")
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        client = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run_service(services.partner_client_revoke, request=request, client=client, reason=body.validated_data["reason"])
        return Response(PartnerClientSerializer(client).data)


app_name = "oauth-api"

router = SimpleRouter()
router.register("oauth/clients", PartnerClientViewSet, basename="client")

urlpatterns = [
    path("oauth/token/", PartnerTokenView.as_view(), name="token"),
    *router.urls,
]
