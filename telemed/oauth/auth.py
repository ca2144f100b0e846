"""How a partner application obtains a token (issue 14; JL-A2 unique identification of systems):
django-oauth-toolkit's validator and scopes backend, specialised (loaded by the toolkit when the
token endpoint runs; the DRF side is ``telemed.oauth.drf``).

- ``PartnerClientValidator`` (token endpoint): the secret as the toolkit checks it (hashed), or —
  inside a rotation's overlap window — the previous secret; a revoked or expired client, or an
  ``Application`` that is not a registered partner client, obtains nothing.
- ``PartnerClientScopes``: an application may ask only for the scopes it was registered with; asking
  for none gives all of them.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes

from . import rules
from .models import PartnerClient


def presented_credentials(request) -> tuple[str, str]:
    """(client id, secret) as the client presented them: HTTP Basic, else the form body."""
    header = request.headers.get("Authorization", "") if hasattr(request, "headers") else ""
    kind, _sep, value = header.partition(" ")
    if kind == "Basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "", ""
        client_id, _sep, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    body = getattr(request, "POST", None) or {}
    return str(body.get("client_id", "")), str(body.get("client_secret", ""))


def _partner(application) -> PartnerClient | None:
    if application is None:
        return None
    try:
        return application.partner_client
    except PartnerClient.DoesNotExist:
        return None


class PartnerClientValidator(OAuth2Validator):
    def authenticate_client(self, request, *args, **kwargs):
        authenticated = super().authenticate_client(request, *args, **kwargs)
        now = timezone.now()
        if not authenticated:
            authenticated = self._previous_secret(request, now=now)
        if not authenticated:
            return False
        partner = _partner(request.client)
        if partner is None:
            return False  # an Application made outside the registration: never a partner
        return rules.client_refusal(revoked_at=partner.revoked_at, expires_at=partner.expires_at, now=now) is None

    def _previous_secret(self, request, *, now) -> bool:
        """Inside the overlap window after a rotation, the old secret (kept hashed) still works."""
        client_id = getattr(request, "client_id", None)
        secret = getattr(request, "client_secret", None)
        if self._extract_basic_auth(request):
            try:
                decoded = base64.b64decode(self._extract_basic_auth(request)).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            client_id, _sep, secret = (unquote_plus(part) for part in decoded.partition(":"))
        if not client_id or not secret:
            return False
        partner = PartnerClient.objects.filter(application__client_id=client_id).first()
        if partner is None or not partner.previous_secret:
            return False
        if not rules.previous_secret_valid(until=partner.previous_secret_until, now=now):
            return False
        if not check_password(secret, partner.previous_secret):
            return False
        self._load_application(client_id, request)
        return request.client is not None


class PartnerClientScopes(BaseScopes):
    def get_all_scopes(self):
        return dict(rules.SCOPES)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        partner = _partner(application)
        return list(partner.scopes) if partner is not None else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return self.get_available_scopes(application, request)
