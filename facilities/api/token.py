"""``POST /api/v1/auth/token/``: a partner system trades its username and password for its API token.

Same door as the login page (JL-A2, GB/T 22239-2019 8.1.4.1): ``authenticate`` with the request, so
the attempt counts toward the lockout per account and per address, a locked-out account is refused
(429 ``account_locked``) even with the right password, and the attempt is on record (``auth.login``
or ``auth.login_failed``, ``auth.lockout``; ``facilities.signin``).

Deprecated (issue 14): partner systems register as OAuth2 applications (``telemed.oauth``). With
``TELEMED_API_LEGACY_TOKENS`` off this door answers 410 ``token_retired`` and the tokens it gave
are no longer accepted.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telemed.errors import ApplicationError

from .. import signin


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="用户名")
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"}, help_text="密码")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="API 凭据，请求时放在 Authorization: Token <token>")


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()


class TokenObtainView(APIView):
    authentication_classes: list = []  # no session, hence no CSRF: the password is the credential
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token_obtain",
        summary="用户名和密码换取 API 凭据（已弃用，改用 /api/v1/oauth/token/）",
        deprecated=True,
        description="JL-A2: 与登录页面同样计入登录失败次数；锁定期间即使密码正确也返回 429 account_locked。",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(ErrorBodySerializer, description="invalid / invalid_credentials"),
            410: OpenApiResponse(ErrorBodySerializer, description="token_retired (TELEMED_API_LEGACY_TOKENS off)"),
            429: OpenApiResponse(ErrorBodySerializer, description="account_locked (JL-A2)"),
        },
        tags=["auth"],
    )
    def post(self, request):
        if not settings.TELEMED_API_LEGACY_TOKENS:  # issue 14: partner applications use /api/v1/oauth/token/
            raise ApplicationError(
                "token_retired",
                _("JL-A2: 用户名密码换取 API 令牌的方式已停用，请由机构管理员登记对接应用，改用 /api/v1/oauth/token/（OAuth2 客户端凭据）。"),
                {"token_url": "/api/v1/oauth/token/"}, status=410,
            )
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        django_request = request._request  # axes and the audit receivers work on Django's request
        user = authenticate(django_request, username=body.validated_data["username"], password=body.validated_data["password"])
        if getattr(django_request, "axes_locked_out", False):
            raise signin.account_locked_error()
        if user is None:
            raise ApplicationError("invalid_credentials", _("JL-A2: 用户名或密码不正确。"))
        signin.record_login(django_request, user, channel_detail="api_token")
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
