"""Issue 14 "Clients and credentials" (JL-A1, JL-A2): partner applications with OAuth2 client
credentials — token issuance, refusals on record, scopes on every route, rotation with overlap,
revocation, expiry, per-client rate limit, the administrator's pages and API, hashed secrets."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from facilities.choices import StaffRole
from telemed.models import PartnerClient
from telemed.oauth import rules, services
from tests.api_cases import assert_error, token_client
from tests.factories import FacilityFactory, division, regulator, staff

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/oauth/token/"


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def facility():
    return FacilityFactory(name="农安县人民医院", division=division("220122"))


@pytest.fixture
def admin(facility):
    return staff(facility, StaffRole.FACILITY_ADMIN)


def register(admin, facility, scopes=("facilities:read", "consultations:read"), **kwargs):
    return services.partner_client_register(actor=admin, facility=facility, name="HIS", scopes=list(scopes), **kwargs)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def ask_token(client_id: str, secret: str, **data):
    return APIClient().post(TOKEN_URL, {"grant_type": "client_credentials", **data},
                            HTTP_AUTHORIZATION=basic(client_id, secret))


def bearer(access_token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return api


def token_for(client: PartnerClient, secret: str) -> str:
    response = ask_token(client.client_id, secret)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def events(event_type: str):
    return AuditEvent.objects.filter(event_type=event_type).order_by("sequence")


# --- Issuance and refusals ------------------------------------------------------------------------


def test_jl_a2_client_credentials_give_a_token_and_the_issue_is_audited(admin, facility):
    client, secret = register(admin, facility)
    issued = events("oauth.client.issue").get()
    assert issued.actor_id == admin.pk and issued.details["client_id"] == client.client_id
    assert secret not in str(issued.details)

    response = ask_token(client.client_id, secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"facilities:read", "consultations:read"}
    assert "refresh_token" not in body
    event = events("oauth.token.issue").get()
    assert event.actor_id == client.user_id and event.object_id == str(client.pk)
    assert body["access_token"] not in str(event.details)


def test_jl_a1_a_wrong_secret_is_refused_and_on_record(admin, facility):
    client, _secret = register(admin, facility)
    response = ask_token(client.client_id, "not-the-secret")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and body["code"] == "invalid_client" and "JL-A2" in body["message"]
    refused = events("oauth.token.refuse").get()
    assert refused.outcome == "failure" and refused.details["code"] == "invalid_client"
    assert refused.details["client_id"] == client.client_id and "not-the-secret" not in str(refused.details)


def test_jl_a1_an_unknown_client_and_other_grants_are_refused_and_on_record(admin, facility):
    client, secret = register(admin, facility)
    assert ask_token("nobody", "x").status_code == 401
    password_grant = APIClient().post(TOKEN_URL, {"grant_type": "password", "username": "u", "password": "p"},
                                      HTTP_AUTHORIZATION=basic(client.client_id, secret))
    assert password_grant.status_code == 400 and password_grant.json()["code"] == "unsupported_grant_type"
    assert [e.details["code"] for e in events("oauth.token.refuse")] == ["invalid_client", "unsupported_grant_type"]


def test_a_client_may_ask_only_for_its_registered_scopes(admin, facility):
    client, secret = register(admin, facility, scopes=["facilities:read"])
    narrowed = ask_token(client.client_id, secret, scope="facilities:read")
    assert narrowed.status_code == 200
    wider = ask_token(client.client_id, secret, scope="billing:write")
    assert wider.status_code == 400 and wider.json()["code"] == "invalid_scope"


def test_the_secret_may_also_come_in_the_body(admin, facility):
    client, secret = register(admin, facility)
    response = APIClient().post(TOKEN_URL, {"grant_type": "client_credentials", "client_id": client.client_id,
                                            "client_secret": secret})
    assert response.status_code == 200


# --- Using the token: identity, scopes, last use ----------------------------------------------------


def test_the_token_acts_as_the_clients_partner_identity_and_is_scoped_like_it(admin, facility):
    client, secret = register(admin, facility)
    other = FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))
    api = bearer(token_for(client, secret))
    membership = client.user.memberships.get()
    assert (membership.facility_id, membership.role) == (facility.pk, StaffRole.PARTNER_SYSTEM)
    assert not client.user.has_usable_password()
    assert api.get(f"/api/v1/facilities/{facility.pk}/").status_code == 200
    assert_error(api.get(f"/api/v1/facilities/{other.pk}/"), 404, "not_found")
    client.refresh_from_db()
    assert client.last_used_at is not None


def test_scopes_are_enforced_per_route_and_method(admin, facility):
    client, secret = register(admin, facility, scopes=["facilities:read"])
    api = bearer(token_for(client, secret))
    assert api.get("/api/v1/facilities/").status_code == 200
    body = assert_error(api.get("/api/v1/consultations/"), 403, "scope_insufficient")
    assert body["extra"]["required_scope"] == "consultations:read" and "JL-A2" in body["message"]
    write = assert_error(api.post("/api/v1/duty/", {}, format="json"), 403, "scope_insufficient")
    assert write["extra"]["required_scope"] == "facilities:write"
    # Registering or rotating applications is never an application's act.
    assert_error(api.get("/api/v1/oauth/clients/"), 403, "scope_insufficient")


def _api_routes(patterns, namespace="", prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (entry.namespace or namespace)
            yield from _api_routes(entry.url_patterns, inner or "", prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/v1/"):
            yield f"{namespace}:{entry.name}" if namespace else str(entry.name)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_api_route_declares_its_scope_or_is_closed_to_clients(method):
    """A new API view fails here until telemed/oauth/rules.py declares which scope it needs."""
    routes = sorted(set(_api_routes(get_resolver().url_patterns)))
    assert len(routes) > 80
    undeclared = [route for route in routes if rules.required_scope(route, method) == rules.UNDECLARED]
    assert undeclared == [], f"declare the scope of these routes in telemed/oauth/rules.py: {undeclared}"
    assert rules.required_scope("someone-api:new-thing-list", method) == rules.UNDECLARED


def test_an_undeclared_route_is_refused_to_every_client():
    assert rules.required_scope(None, "GET") == rules.UNDECLARED
    assert rules.required_scope("consultations-api:consultation-download", "GET") == "documents:read"
    assert rules.required_scope("consultations-api:consultation-documents", "POST") == "documents:write"
    assert rules.required_scope("consultations-api:consultation-list", "POST") == "consultations:write"
    assert rules.required_scope("facilities-api:metrics-facility", "GET") == "metrics:read"
    assert rules.required_scope("webhooks-api:subscription-list", "GET") == "webhooks:manage"
    assert rules.required_scope("oauth-api:client-list", "GET") == rules.FORBIDDEN


# --- Rotation with overlap, revocation, expiry ------------------------------------------------------


def test_rotation_keeps_the_old_secret_for_the_overlap_only(admin, facility, settings):
    settings.TELEMED_OAUTH_ROTATION_OVERLAP_HOURS = 24
    client, old = register(admin, facility)
    new = services.partner_client_rotate(actor=admin, client=client)
    assert new != old
    event = events("oauth.client.rotate").get()
    assert event.details["overlap_hours"] == 24 and new not in str(event.details)
    assert ask_token(client.client_id, new).status_code == 200
    assert ask_token(client.client_id, old).status_code == 200  # inside the overlap
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, minutes=1), tick=False):
        assert ask_token(client.client_id, old).status_code == 401
        assert ask_token(client.client_id, new).status_code == 200


def test_rotation_without_overlap_ends_the_old_secret_at_once(admin, facility):
    client, old = register(admin, facility)
    new = services.partner_client_rotate(actor=admin, client=client, overlap_hours=0)
    assert ask_token(client.client_id, old).status_code == 401
    assert ask_token(client.client_id, new).status_code == 200


def test_revocation_ends_tokens_at_once_and_is_audited(admin, facility):
    client, secret = register(admin, facility)
    api = bearer(token_for(client, secret))
    assert api.get("/api/v1/facilities/").status_code == 200
    services.partner_client_revoke(actor=admin, client=client, reason="HIS 更换厂商")
    assert_error(api.get("/api/v1/facilities/"), 401, "not_authenticated")
    refused = ask_token(client.client_id, secret)
    assert refused.status_code == 401 and refused.json()["code"] == "client_revoked"
    revoked = events("oauth.client.revoke").get()
    assert revoked.details["reason"] == "HIS 更换厂商" and revoked.details["tokens_revoked"] == 1


def test_a_revocation_needs_a_reason(admin, facility):
    client, _secret = register(admin, facility)
    with pytest.raises(services.ApplicationError):
        services.partner_client_revoke(actor=admin, client=client, reason="  ")
    assert PartnerClient.objects.get(pk=client.pk).revoked_at is None


def test_tokens_expire_after_the_setting(admin, facility):
    client, secret = register(admin, facility)
    api = bearer(token_for(client, secret))
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3601), tick=False):
        assert_error(api.get("/api/v1/facilities/"), 401, "not_authenticated")


def test_an_expired_registration_obtains_no_token(admin, facility):
    client, secret = register(admin, facility, expires_at=timezone.now() + dt.timedelta(days=1))
    with time_machine.travel(timezone.now() + dt.timedelta(days=1, seconds=1), tick=False):
        refused = ask_token(client.client_id, secret)
    assert refused.status_code == 401 and refused.json()["code"] == "client_expired"


# --- Rate limit ---------------------------------------------------------------------------------------


def test_the_rate_limit_is_per_client_with_429_and_retry_after(admin, facility):
    slow, slow_secret = register(admin, facility, rate_per_minute=2)
    fast, fast_secret = register(admin, facility)
    api = bearer(token_for(slow, slow_secret))
    other = bearer(token_for(fast, fast_secret))
    assert api.get("/api/v1/facilities/").status_code == 200
    assert api.get("/api/v1/facilities/").status_code == 200
    response = api.get("/api/v1/facilities/")
    body = assert_error(response, 429, "rate_limited")
    assert 0 < int(response["Retry-After"]) <= 60 and body["extra"]["retry_after"] == int(response["Retry-After"])
    assert other.get("/api/v1/facilities/").status_code == 200  # another client has its own budget
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=False):
        assert api.get("/api/v1/facilities/").status_code == 200


# --- Secrets at rest ------------------------------------------------------------------------------------


def test_secrets_are_stored_hashed_in_the_raw_tables(admin, facility):
    """Client secrets (current and previous) as password hashes; access tokens as SHA-256 checksums
    only (RFC 9700 token storage)."""
    client, old = register(admin, facility)
    new = services.partner_client_rotate(actor=admin, client=client)
    access_token = token_for(client, new)
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, token_checksum FROM oauth2_provider_accesstoken")
        assert all(access_token not in (token or "") and access_token != checksum for token, checksum in cursor.fetchall())
        cursor.execute("SELECT client_secret FROM oauth2_provider_application WHERE client_id = %s", [client.client_id])
        (stored,) = cursor.fetchone()
        cursor.execute("SELECT previous_secret FROM telemed_partnerclient WHERE id = %s", [client.pk])
        (previous,) = cursor.fetchone()
    assert stored != new and new not in stored and "$" in stored
    assert previous and old not in previous and "$" in previous


# --- Who administers: pages and API ------------------------------------------------------------------


def test_pages_register_rotate_and_revoke_show_the_secret_once(client, admin, facility):
    client.force_login(admin)
    assert client.get(reverse("partner-clients:list")).status_code == 200
    response = client.post(reverse("partner-clients:create"), {
        "owner": f"f:{facility.pk}", "name": "农安 HIS", "scopes": ["facilities:read"], "rate_per_minute": "",
    })
    assert response.status_code == 200
    registered = PartnerClient.objects.get(name="农安 HIS")
    secret = response.context["secret"]
    assert secret.encode() in response.content and registered.client_id.encode() in response.content
    listing = client.get(reverse("partner-clients:list"))
    assert registered.client_id.encode() in listing.content and secret.encode() not in listing.content

    rotated = client.post(reverse("partner-clients:rotate", args=[registered.pk]))
    assert rotated.status_code == 200 and rotated.context["secret"] != secret
    assert ask_token(registered.client_id, rotated.context["secret"]).status_code == 200

    revoked = client.post(reverse("partner-clients:revoke", args=[registered.pk]), {"reason": "停用"})
    assert revoked.status_code == 302
    assert PartnerClient.objects.get(pk=registered.pk).revoked_at is not None


def test_pages_another_facilitys_client_is_404_and_other_roles_403(client, admin, facility):
    other = FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))
    theirs, _secret = register(staff(other, StaffRole.FACILITY_ADMIN), other)
    client.force_login(admin)
    assert client.post(reverse("partner-clients:rotate", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("partner-clients:revoke", args=[theirs.pk]), {"reason": "x"}).status_code == 404
    assert theirs.client_id.encode() not in client.get(reverse("partner-clients:list")).content
    client.force_login(staff(facility, StaffRole.CLINICIAN))
    assert client.get(reverse("partner-clients:list")).status_code == 403


def test_jl_a1_a_refused_registration_is_on_record(facility):
    clinician = staff(facility, StaffRole.CLINICIAN)
    with pytest.raises(services.ApplicationError) as refused:
        register(clinician, facility)
    assert refused.value.status == 403 and "JL-A2" in refused.value.message
    event = events("oauth.client.issue").get()
    assert event.outcome == "failure" and event.actor_id == clinician.pk
    assert not PartnerClient.objects.exists()


def test_api_facility_admin_registers_lists_rotates_and_revokes(admin, facility, django_assert_max_num_queries):
    api = token_client(admin)
    created = api.post("/api/v1/oauth/clients/", {"name": "HIS", "facility": facility.pk,
                                                   "scopes": ["consultations:read"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["client_secret"] and body["client_id"]
    register(admin, facility)
    with django_assert_max_num_queries(8):
        listing = api.get("/api/v1/oauth/clients/")
    assert listing.status_code == 200 and listing.json()["count"] == 2
    assert "client_secret" not in listing.json()["results"][0]
    detail = api.get(f"/api/v1/oauth/clients/{body['id']}/")
    assert detail.status_code == 200 and "client_secret" not in detail.json()
    rotated = api.post(f"/api/v1/oauth/clients/{body['id']}/rotate/", {"overlap_hours": 2}, format="json")
    assert rotated.status_code == 200 and rotated.json()["client_secret"] != body["client_secret"]
    assert_error(api.post(f"/api/v1/oauth/clients/{body['id']}/revoke/", {}, format="json"), 400, "invalid")
    revoked = api.post(f"/api/v1/oauth/clients/{body['id']}/revoke/", {"reason": "停用"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["active"] is False


def test_api_another_facilitys_client_is_404(admin, facility):
    other = FacilityFactory(name="吉林市中心医院", division=division("220202"), licence_issuer=division("220200"))
    theirs, _secret = register(staff(other, StaffRole.FACILITY_ADMIN), other)
    api = token_client(admin)
    assert_error(api.get(f"/api/v1/oauth/clients/{theirs.pk}/"), 404, "not_found")
    assert_error(api.post(f"/api/v1/oauth/clients/{theirs.pk}/revoke/", {"reason": "x"}, format="json"), 404, "not_found")
    refused = api.post("/api/v1/oauth/clients/", {"name": "x", "facility": other.pk, "scopes": ["facilities:read"]},
                       format="json")
    assert_error(refused, 403, "permission_denied")


def test_a_division_registers_a_client_for_the_commissions_system():
    commission = regulator("220100")
    client, secret = services.partner_client_register(actor=commission, division=division("220100"),
                                                      name="长春市卫健委监管平台", scopes=["audit:read", "facilities:read"])
    assert client.user.regulator_roles.get().division_id == "220100"
    api = bearer(token_for(client, secret))
    assert api.get("/api/v1/facilities/").status_code == 200
    with pytest.raises(services.ApplicationError):
        services.partner_client_register(actor=regulator("220200"), division=division("220100"), name="x",
                                         scopes=["audit:read"])


# --- The old per-user tokens and the published contract ---------------------------------------------


def test_legacy_tokens_work_while_the_setting_is_on_and_are_retired_when_off(facility, settings):
    api = token_client(staff(facility, StaffRole.PARTNER_SYSTEM))
    assert api.get("/api/v1/facilities/").status_code == 200
    settings.TELEMED_API_LEGACY_TOKENS = False
    assert_error(api.get("/api/v1/facilities/"), 401, "not_authenticated")
    retired = APIClient().post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json")
    assert_error(retired, 410, "token_retired")


def test_openapi_documents_the_oauth2_scheme_and_each_operations_scope(admin):
    schema = token_client(admin).get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["oauth2"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == TOKEN_URL
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == set(rules.SCOPES)
    listing = schema["paths"]["/api/v1/consultations/"]["get"]["security"]
    assert {"oauth2": ["consultations:read"]} in listing
    download = schema["paths"]["/api/v1/consultations/{id}/documents/{document_id}/download/"]["get"]["security"]
    assert {"oauth2": ["documents:read"]} in download


def test_an_idempotency_key_belongs_to_the_application_across_its_tokens(admin, facility):
    """A retry after the token was renewed is still a retry (telemed.idempotency keys by client)."""
    from consultations.models import Patient

    client, secret = register(admin, facility, scopes=["patients:write"])
    body = {"name": "王五", "sex": "1", "birth_date": "1958-03-02", "id_number": "220122195803021234",
            "phone": "13912345678"}
    first = bearer(token_for(client, secret)).post("/api/v1/patients/", body, format="json",
                                                   HTTP_IDEMPOTENCY_KEY="his-0001")
    assert first.status_code == 201, first.content
    again = bearer(token_for(client, secret)).post("/api/v1/patients/", body, format="json",
                                                   HTTP_IDEMPOTENCY_KEY="his-0001")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert Patient.objects.count() == 1


def test_the_page_list_takes_the_same_number_of_queries_for_one_client_or_many(client, admin, facility):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    register(admin, facility)
    client.force_login(admin)
    client.get(reverse("partner-clients:list"))  # the session's first request does its own once-only reads
    with CaptureQueriesContext(db) as one:
        assert client.get(reverse("partner-clients:list")).status_code == 200
    register(admin, facility)
    register(admin, facility)
    with CaptureQueriesContext(db) as three:
        assert client.get(reverse("partner-clients:list")).status_code == 200
    assert len(three) == len(one) <= 25
