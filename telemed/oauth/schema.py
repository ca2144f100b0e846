"""OpenAPI (drf-spectacular): the OAuth2 security scheme of partner applications (issue 14).

One scheme, ``oauth2``, client credentials only, token URL ``/api/v1/oauth/token/``, the scopes of
``rules.SCOPES``; each operation names the one scope it needs (``rules.required_scope`` of its
route and method), so the published contract is the enforced one. Imported by ``telemed.oauth.api``
(which the URL configuration always loads) to register the extension.
"""

from __future__ import annotations

import re

from django.urls import Resolver404, resolve
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.settings import spectacular_settings

from . import rules

_PARAMETER = re.compile(r"\{[^}]+\}")


def operation_scope(path: str, method: str) -> str:
    try:
        match = resolve(_PARAMETER.sub("1", path))
    except Resolver404:
        return rules.UNDECLARED
    return rules.required_scope(match.view_name, method)


class PartnerClientScheme(OpenApiAuthenticationExtension):
    target_class = "telemed.oauth.drf.PartnerClientAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema):
        scope = operation_scope(auto_schema.path, auto_schema.method)
        if scope == rules.ANY:
            return {self.name: []}  # a token of any scope
        if scope not in rules.SCOPES:
            return None  # no application may call it: the scheme is not offered for this operation
        return {self.name: [scope]}

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "对接应用：OAuth2 客户端凭据（client_id 与密钥，HTTP Basic）换取访问令牌；"
                           "Authorization: Bearer <access_token>。每个操作只接受登记了相应授权范围的令牌。",
            "flows": {"clientCredentials": {"tokenUrl": spectacular_settings.OAUTH2_TOKEN_URL,
                                            "scopes": dict(rules.SCOPES)}},
        }


class LegacyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "telemed.oauth.drf.LegacyTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Deprecated: Token <key> (per-user DRF token, while TELEMED_API_LEGACY_TOKENS is on)"}
