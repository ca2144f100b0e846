"""Partner API for webhooks under /api/v1/ (issue 14): subscriptions and their delivery log.

``/webhooks/`` lists, creates (the answer carries the ``secret``, this once only), retrieves and
(``POST /webhooks/<id>/disable/``) disables a facility's subscriptions — a partner application's
own (it creates them for itself) or facility-wide; ``/webhook-deliveries/``
lists (``?subscription=``), retrieves and (``POST …/<id>/redeliver/``) redelivers. Only the
facility's administrators and partner systems see them (404 for anyone else's, STYLE 3).
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from facilities.models import Facility
from telemed.api import ReasonSerializer, VersionedResourceMixin, run_service
from telemed.errors import ApplicationError
from telemed.filters import IdFilter
from telemed.models import WebhookDelivery, WebhookSubscription
from telemed.scope import Scope

from . import rules, services

SIGNATURE_SCHEME = (
    "每次推送为 POST，正文为 JSON（WebhookPayload），请求头：X-Telemed-Event-Id（事件 id，UUID，重试时不变，接收方据此去重）、"
    "X-Telemed-Event-Type、X-Telemed-Timestamp（Unix 秒）、X-Telemed-Signature: sha256=HEX(HMAC-SHA256(secret, "
    "timestamp + \".\" + 原始正文))。接收方须用常数时间比较签名，并拒绝与本机时钟相差超过 300 秒的时间戳（防重放）。"
    "2xx 视为送达；否则按 30 秒 × 2^(n-1)（封顶）退避重试，至多 TELEMED_WEBHOOK_MAX_ATTEMPTS 次；同一资源的事件按发生顺序推送；"
    "连续多次放弃后订阅自动停用并通知机构管理员。详见 docs/architecture.md「Webhooks」。"
)


class WebhookResourceSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="consultation / obligation / statement / suspension")
    id = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="该资源 API 详情的路径（相对于平台地址）")


class WebhookPayloadSerializer(serializers.Serializer):
    """The JSON body of every delivery (published as the ``WebhookPayload`` component)."""

    id = serializers.UUIDField(help_text="事件 id：同一事件的每次重试都相同，接收方据此去重")
    type = serializers.ChoiceField(choices=rules.WebhookEventType.choices)
    occurred_at = serializers.DateTimeField()
    resource = WebhookResourceSerializer()
    data = serializers.DictField(help_text="摘要：action（审计事件类型）、facility_ids、consultation_number、state；不含患者身份信息（JL-C9）")


@extend_schema_field({"type": "string", "enum": list(rules.WebhookEventType.values)})
class EventTypeField(serializers.CharField):
    """Issue 14: the schema lists the event types; the service still refuses others (webhook_event_type_invalid)."""


@extend_schema_field({"type": "string", "format": "uri", "pattern": "^https?://[^/@:]+(:[0-9]+)?(/.*)?$", "maxLength": 500})
class WebhookUrlField(serializers.CharField):
    """Issue 14: the schema says http(s) without credentials; the service checks the rest (webhook_url_*)."""


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    facility = serializers.IntegerField(source="facility_id", required=False,
                                        help_text="订阅机构；本人只管理一个机构时可省略")
    event_types = serializers.ListField(child=EventTypeField(max_length=60), allow_empty=False, min_length=1,
                                        help_text="、".join(rules.WebhookEventType.values))
    target_url = WebhookUrlField(max_length=500, help_text="接收地址：http/https，不得含用户名密码，不得为内网地址")
    client = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100,
        help_text="所属对接应用的 client_id（issue 14）。对接应用自己创建的订阅归属于它（可省略）；机构管理员可指定本机构的应用；"
                  "空为全机构订阅。应用只收到其授权范围可读取的事件，应用吊销后订阅自动停用。",
    )
    client_name = serializers.CharField(read_only=True, allow_null=True, source="client.name", default=None)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "facility", "client", "client_name", "description", "target_url", "event_types", "active",
                  "created_at", "disabled_at", "disabled_reason", "failure_count"]
        read_only_fields = ["id", "active", "created_at", "disabled_at", "disabled_reason", "failure_count"]

    def to_representation(self, instance):
        body = super().to_representation(instance)
        body["client"] = instance.client.client_id if instance.client_id else None
        return body


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="签名密钥：仅在本次应答中出现一次，请妥善保存")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(read_only=True)
    event_type = serializers.CharField(source="event.event_type", read_only=True)
    payload = WebhookPayloadSerializer(source="event.payload", read_only=True)
    client = serializers.CharField(read_only=True, allow_null=True, default=None,
                                   source="subscription.client.application.client_id",
                                   help_text="订阅所属对接应用的 client_id；全机构订阅为 null")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "subscription", "client", "event_id", "event_type", "state", "attempts", "next_attempt_at",
                  "last_attempt_at", "delivered_at", "last_status_code", "last_response", "last_error", "payload"]
        read_only_fields = fields


def _client_for(request, facility: Facility, client_id: str | None):
    """The owning application (issue 14): the calling application itself, or — for a person — the
    facility's application named by ``client_id`` (none: facility-wide)."""
    from telemed.models import PartnerClient

    calling = getattr(request, "partner_client", None)
    if calling is not None:
        if client_id and client_id != calling.client_id:
            raise ApplicationError("webhook_client_invalid", _("对接应用只能为自己订阅事件推送。"), {"field": "client"})
        return calling
    if not client_id:
        return None
    client = (PartnerClient.objects.select_related("application")
              .filter(facility=facility, application__client_id=client_id).first())
    if client is None:
        raise ApplicationError("webhook_client_invalid", _("只能为本机构登记的对接应用订阅事件推送。"), {"field": "client"})
    return client


def _facility_for(request, facility_id: int | None) -> Facility:
    managed = Scope.of(request.user).facilities_with_role(*services.MANAGERS)
    if facility_id is None and len(managed) == 1:
        facility_id = managed[0]
    if facility_id is None or facility_id not in managed:
        raise ApplicationError("not_found", _("引用的对象不存在，或它不在您的管辖范围内。"),  # JL-O1, issue 14
                               {"fields": {"facility": [_("请选择您所管理的机构。")]}}, status=404)
    return Facility.objects.get(pk=facility_id)


@extend_schema_view(
    list=extend_schema(description="本机构的事件推送订阅。" + SIGNATURE_SCHEME),
    retrieve=extend_schema(description="一个订阅（不含密钥）。"),
    create=extend_schema(request=WebhookSubscriptionSerializer, responses={201: WebhookSubscriptionCreatedSerializer},
                         description="新建订阅；应答中的 secret 仅出现这一次。" + SIGNATURE_SCHEME),
)
class WebhookSubscriptionViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                                 mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.select_related("client__application").order_by("facility_id", "-created_at", "-id")
    filter_backends: list = []

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        if not Scope.of(request.user).facilities_with_role(*services.MANAGERS):
            raise ApplicationError("permission_denied", _("您的角色无权执行此操作。"), status=403)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        facility = _facility_for(request, data.get("facility_id"))
        subscription, secret = run_service(
            services.webhook_subscription_create, request=request,
            facility=facility, target_url=data["target_url"], client=_client_for(request, facility, data.get("client")),
            event_types=data["event_types"], description=data.get("description", ""),
        )
        body = WebhookSubscriptionCreatedSerializer(subscription).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={200: WebhookSubscriptionSerializer},
                   description="停用订阅（不再推送；无法重新启用，请新建）。")
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = run_service(services.webhook_subscription_disable, request=request,
                                   subscription=self.get_object(), reason=body.validated_data["reason"])
        return Response(WebhookSubscriptionSerializer(subscription).data)


class DeliveryFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id")

    class Meta:
        model = WebhookDelivery
        fields = ["subscription"]


@extend_schema_view(
    list=extend_schema(description="推送记录（新的在前）；?subscription= 只看一个订阅。每条含推送正文（WebhookPayload）。"),
    retrieve=extend_schema(description="一条推送记录：状态、尝试次数、下次尝试时间、最近的响应状态码与节选。"),
)
class WebhookDeliveryViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             viewsets.GenericViewSet):
    serializer_class = WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.select_related("event", "subscription__client__application").order_by("subscription_id", "-id")
    filterset_class = DeliveryFilter

    @property
    def filter_backends(self):
        from telemed.filters import FilterBackend

        return [FilterBackend]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    @extend_schema(request=None, responses={200: WebhookDeliverySerializer, 409: OpenApiResponse(description="webhook_disabled")},
                   description="重新推送：重置尝试次数，立即再推送（同一事件 id）。")
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = run_service(services.webhook_redeliver, request=request, delivery=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data)


router = SimpleRouter()
router.register("webhooks", WebhookSubscriptionViewSet, basename="subscription")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="delivery")

app_name = "webhooks-api"
urlpatterns = router.urls
