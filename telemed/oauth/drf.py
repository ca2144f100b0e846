"""The DRF side of partner applications (issue 14; JL-A2): authentication and rate limit.

Named in ``REST_FRAMEWORK`` settings, so this module is imported before the models are loaded:
it imports them (and ``telemed.errors``, which imports DRF's views) only inside the methods.

- ``PartnerClientAuthentication`` (first of DRF's authentication classes, so every API view uses
  it): a Bearer token of a usable client makes the request its acting identity (``PartnerClient.user``,
  so roles and ``visible_to`` scope it exactly as before), and the route's scope
  (``rules.required_scope``) must be in the token, else 403 ``scope_insufficient`` — checked here,
  before any view's own permissions, so that no view can forget it.
- ``PartnerClientRateThrottle``: per application, ``TELEMED_OAUTH_RATE_PER_MINUTE`` or the
  registration's own rate; over it, 429 ``rate_limited`` with ``Retry-After``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.contrib.rest_framework.authentication import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle

from . import rules


def route_of(request) -> str | None:
    match = getattr(request._request if hasattr(request, "_request") else request, "resolver_match", None)
    return match.view_name if match is not None else None


class PartnerClientAuthentication(OAuth2Authentication):
    www_authenticate_realm = "telemed"

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        from telemed.errors import ApplicationError

        from .models import PartnerClient
        from .services import partner_client_used

        _user, token = result
        partner = (
            PartnerClient.objects.select_related("user", "application").filter(application_id=token.application_id).first()
        )
        now = timezone.now()
        if (partner is None or not partner.user.is_active
                or rules.client_refusal(revoked_at=partner.revoked_at, expires_at=partner.expires_at, now=now)):
            raise exceptions.AuthenticationFailed()
        needed = rules.required_scope(route_of(request), request.method)
        if not rules.scope_sufficient(needed, token.scope.split()):
            raise ApplicationError(
                "scope_insufficient",
                _("JL-A2: 该对接应用未获授权执行此操作（需要授权范围 %(scope)s）。请机构管理员为其登记相应范围。")
                % {"scope": needed if needed in rules.SCOPES else "—"},
                {"required_scope": needed if needed in rules.SCOPES else None}, status=403,
            )
        partner_client_used(partner, now=now)
        request.partner_client = partner
        return partner.user, token


class PartnerClientRateThrottle(SimpleRateThrottle):
    scope = "partner_client"

    def allow_request(self, request, view):
        partner = getattr(request, "partner_client", None)
        if partner is None:
            return True  # people and the old per-user tokens are not rate-limited here
        self.rate = f"{partner.rate_per_minute}/min" if partner.rate_per_minute else self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.partner_client.pk}


class LegacyTokenAuthentication(TokenAuthentication):
    """The per-user DRF tokens (``Authorization: Token …``) during their deprecation period: read
    at each request, so ``TELEMED_API_LEGACY_TOKENS=0`` retires them without another change."""

    def authenticate(self, request):
        if not settings.TELEMED_API_LEGACY_TOKENS:
            return None
        return super().authenticate(request)
