"""Partner/user API of the notification preferences under /api/v1/ (issue 12).

``GET /notification-preferences/`` answers the caller's own choices (every kind with its effective
channels, defaults included) and whether an SMS number is on file (masked); ``PUT``/``PATCH`` change
them through ``notification_preference_update`` (audited). Refusals use the one error contract:
``invalid`` (unknown kind or channel), ``invalid_phone``.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from telemed.api import run_service

from . import rules, selectors, services
from .choices import Channel, NotificationKind


class PreferenceSerializer(serializers.Serializer):
    channels = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices)), required=False,
        help_text="通知类别 → 渠道列表（in_app 始终开启；email、sms 可选）。类别：" + "、".join(NotificationKind.values),
    )
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, write_only=True,
                                  help_text="短信接收手机号码（11位）；空字符串表示删除")
    phone_masked = serializers.CharField(read_only=True)


def _answer(preference) -> dict:
    return {
        "channels": {kind: sorted(channels) for kind, channels in rules.all_channels(preference.channels).items()},
        "phone_masked": rules.mask_phone(preference.phone),
    }


class PreferenceView(APIView):
    permission_classes = [IsAuthenticated]
    serializer_class = PreferenceSerializer

    @extend_schema(responses=PreferenceSerializer, summary="本人的通知设置")
    def get(self, request):
        return Response(_answer(selectors.preference_of(request.user)))

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer, summary="修改本人的通知设置")
    def put(self, request):
        return self._change(request)

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer, summary="修改本人的通知设置（部分）")
    def patch(self, request):
        return self._change(request)

    def _change(self, request):
        raw = request.data if isinstance(request.data, dict) else {}
        # Unknown kinds are refused by the service with a Chinese reason, so pass the dict as given.
        channels = raw.get("channels")
        phone = raw.get("phone")
        if phone is not None and not isinstance(phone, str):
            phone = str(phone)
        preference = run_service(services.notification_preference_update, request=request, channels=channels, phone=phone)
        return Response(_answer(preference))


app_name = "notifications-api"

urlpatterns = [
    path("notification-preferences/", PreferenceView.as_view(), name="notification-preferences"),
]
