"""``POST /api/v1/oauth/token/``: a partner application trades its client id and secret for an
access token (OAuth2 client credentials, RFC 6749 4.4; issue 14, JL-A2).

django-oauth-toolkit answers; this view only narrows it to ``grant_type=client_credentials``,
puts every answer on record (JL-A1: ``oauth.token.issue``, or ``oauth.token.refuse`` with the
reason — never the secret or the token) and adds the portal's error contract to the RFC's error
body: ``{"error", "error_description", "code", "message", "extra"}``.
"""

from __future__ import annotations

import hashlib
import json

from django.http import JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_access_token_model
from oauth2_provider.views import TokenView

from telemed.context import client_ip
from telemed.text import clean_text

from . import rules
from .auth import presented_credentials
from .models import PartnerClient
from .services import token_issued_record, token_refused_record

MESSAGES = {
    "invalid_client": lambda: _("JL-A2: 对接应用的 client_id 或密钥不正确。"),
    "client_revoked": lambda: _("JL-A2: 该对接应用已被吊销，不能再获取访问令牌。"),
    "client_expired": lambda: _("JL-A2: 该对接应用的登记已过期，请联系机构管理员。"),
    "unsupported_grant_type": lambda: _("只支持 grant_type=client_credentials。"),
    "unauthorized_client": lambda: _("只支持 grant_type=client_credentials。"),
    "invalid_scope": lambda: _("申请的授权范围超出该对接应用登记的范围。"),
}


# Our refinements of RFC 6749's ``invalid_client`` (the RFC body keeps the RFC's code).
RFC_ERRORS = {
    "client_revoked": "invalid_client",
    "client_expired": "invalid_client",
    "invalid_client": "invalid_client",
    "unsupported_grant_type": "unsupported_grant_type",
    "unauthorized_client": "unauthorized_client",
    "invalid_scope": "invalid_scope",
    "invalid_grant": "invalid_grant",
}


@method_decorator(csrf_exempt, name="dispatch")
class PartnerTokenView(TokenView):
    def post(self, request, *args, **kwargs):
        client_id, _secret = presented_credentials(request)
        client_id = clean_text(client_id, keep_lines=False)[:100]
        partner = (PartnerClient.objects.select_related("user", "application")
                   .filter(application__client_id=client_id).first() if client_id else None)
        if request.POST.get("grant_type") != "client_credentials":
            return self._refused(request, client_id, partner, "unsupported_grant_type", 400)
        response = self.authorization_flow_token_response(request)
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {}
        if response.status_code == 200:
            # The client the token was issued to, whatever form its credentials came in.
            checksum = hashlib.sha256(str(body.get("access_token", "")).encode()).hexdigest()
            application_id = (get_access_token_model().objects.filter(token_checksum=checksum)
                              .values_list("application_id", flat=True).first())
            issued_to = (PartnerClient.objects.select_related("user", "application")
                         .filter(application_id=application_id).first() if application_id else None)
            if issued_to is not None:
                token_issued_record(client=issued_to, scope=body.get("scope", ""), expires_in=body.get("expires_in"),
                                    ip_address=client_ip(request))
            return response
        error = str(body.get("error") or "invalid_request")
        if error == "invalid_client" and partner is not None:
            error = rules.client_refusal(revoked_at=partner.revoked_at, expires_at=partner.expires_at,
                                         now=timezone.now()) or error
        return self._refused(request, client_id, partner, error, response.status_code if response.status_code != 200 else 400,
                             headers={k: v for k, v in response.items() if k == "WWW-Authenticate"})

    def _refused(self, request, client_id, partner, error: str, status: int, headers: dict | None = None):
        token_refused_record(client_id=client_id, error=error, client=partner, ip_address=client_ip(request))
        message = MESSAGES.get(error, lambda: _("令牌请求无效。"))()
        oauth_error = RFC_ERRORS.get(error, error if error in RFC_ERRORS.values() else "invalid_request")
        response = JsonResponse(
            {"error": oauth_error, "error_description": message, "code": error, "message": message,
             "extra": {"rule": "JL-A2"}},
            status=status, json_dumps_params={"ensure_ascii": False},
        )
        for name, value in (headers or {}).items():
            response[name] = value
        response["Cache-Control"] = "no-store"
        return response
