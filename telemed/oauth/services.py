"""Every write on partner applications (issue 14; STYLE 2): register, rotate, revoke, and the
token endpoint's records. Each writes its audit event in the same transaction (JL-A1); a refusal
is on record too (``audit_refusal``).

Who administers an application: the facility administrator of its facility, or a regulator of
exactly its division (the health commission's own systems). Secrets are made here, returned once
to be shown once, and stored only hashed (django-oauth-toolkit hashes ``client_secret`` on save;
the previous secret of a rotation keeps that hash, it is never seen in clear again).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import get_access_token_model, get_application_model

from audit.choices import EventType, Outcome
from audit.services import audit_event_append, audit_refusal
from facilities.choices import StaffRole
from facilities.models import RegulatorMembership, StaffMembership
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import rules
from .models import PartnerClient

NAME_MAX = 100
REASON_MAX = 300


def may_manage(actor, *, facility_id: int | None = None, division_code: str | None = None) -> bool:
    """The facility's administrator, or a regulator of exactly that division."""
    scope = Scope.of(actor)
    if facility_id is not None:
        return scope.has_role(facility_id, StaffRole.FACILITY_ADMIN)
    return bool(division_code) and scope.is_division(division_code)


def _denied(actor, event_type: EventType, *, client: PartnerClient | None = None, details: dict | None = None):
    error = ApplicationError(
        "permission_denied",
        _("JL-A2: 只有本机构的机构管理员（或本区划的监管部门）可以登记、轮换或吊销对接应用。"), status=403,
    )
    return audit_refusal(error, actor=actor, event_type=event_type, obj=client, details=details or {})


def _facility_ids(client: PartnerClient) -> list[int]:
    return [client.facility_id] if client.facility_id else []


def _event(*, actor, event_type: EventType, client: PartnerClient, details: dict, outcome: str = Outcome.SUCCESS) -> None:
    audit_event_append(
        actor=actor, event_type=event_type, outcome=outcome, obj=client, facility_ids=_facility_ids(client),
        acting_facility_id=client.facility_id, acting_division_code=client.division_id or "",
        details={"client_id": client.application.client_id, "name": client.name, **details},
    )


def _acting_user(*, client_id: str, name: str, facility, division):
    """A dedicated identity for the application: no password (it can never sign in to the pages),
    the ``partner_system`` role at the facility or a regulator membership of the division, so every
    existing permission and ``visible_to`` applies to it unchanged."""
    user = get_user_model()(username=f"client_{client_id}"[:150], first_name=name[:150])
    user.set_unusable_password()
    user.save()
    if facility is not None:
        StaffMembership.objects.create(user=user, facility=facility, role=StaffRole.PARTNER_SYSTEM)
    else:
        RegulatorMembership.objects.create(user=user, division=division)
    return user


#: Whom an application may act as, besides an identity made for it (``acting_user``): the facility's
#: partner-system account (the way off the old DRF tokens), or a person's own workstation — a
#: coordinator's, or an expert's that signs as the expert (JL-C6: every JL-P check still runs at
#: each act, on the person). Never a facility administrator or anyone the two-factor policy covers:
#: client credentials have no second factor (JL-A2).
ACTING_ROLES = (StaffRole.PARTNER_SYSTEM, StaffRole.COORDINATOR, StaffRole.CLINICIAN)


def acting_user_allowed(user, *, facility) -> bool:
    from facilities.twofactor import required_for

    return (facility is not None and user.is_active and Scope.of(user).has_role(facility.pk, *ACTING_ROLES)
            and not required_for(user))


def partner_client_register(
    *, actor, name: str, scopes: list[str], facility=None, division=None, rate_per_minute: int | None = None,
    expires_at: dt.datetime | None = None, acting_user=None, client_id: str | None = None, secret: str | None = None,
) -> tuple[PartnerClient, str]:
    """Register an application for ``facility`` (or ``division``); returns it and its secret, shown
    this once. ``acting_user`` (an existing account of the facility, ``ACTING_ROLES``) makes the
    application act as it: a partner-system account moves from its old DRF token to this client with
    the same identity, a coordinator's or an expert's workstation acts as that person; ``client_id``/``secret`` only for
    the demonstration data."""
    name = clean_text(name or "", keep_lines=False).strip()[:NAME_MAX]
    details = {"name": name, "scopes": sorted(scopes or [])}
    if (facility is None) == (division is None):
        raise ApplicationError("invalid", _("请选择对接应用所属的医疗机构或行政区划（二者取一）。"))
    if not may_manage(actor, facility_id=getattr(facility, "pk", None), division_code=getattr(division, "pk", None)):
        raise _denied(actor, EventType.OAUTH_CLIENT_ISSUE, details={
            "facility_id": getattr(facility, "pk", None), "division": getattr(division, "pk", None), **details})
    if not name:
        raise ApplicationError("invalid", _("请填写应用名称。"), {"fields": {"name": [_("请填写应用名称。")]}})
    unknown = rules.scope_problems(scopes)
    if unknown:
        raise ApplicationError("scope_invalid", _("授权范围无效：%(scopes)s。请从列表中选择至少一项。") % {"scopes": "、".join(unknown)},
                               {"fields": {"scopes": unknown}})
    if rate_per_minute is not None and rate_per_minute < 1:
        raise ApplicationError("invalid", _("每分钟请求上限须为正整数。"))
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ApplicationError("invalid", _("有效期须晚于现在。"))
    if acting_user is not None and not acting_user_allowed(acting_user, facility=facility):
        raise ApplicationError("invalid", _("代表身份须为本机构的对接系统账号，或本机构无须双重认证的临床、协调人员账号（JL-A2）。"))
    secret = secret or generate_client_secret()
    client_id = client_id or generate_client_id()
    with service_transaction():
        application = get_application_model()(
            name=name, client_id=client_id, client_secret=secret, user=None,
            client_type="confidential", authorization_grant_type="client-credentials", hash_client_secret=True,
        )
        application.save()  # the toolkit hashes client_secret here
        owns_user = acting_user is None
        if owns_user:
            acting_user = _acting_user(client_id=client_id, name=name, facility=facility, division=division)
        client = PartnerClient.objects.create(
            application=application, user=acting_user, owns_user=owns_user, facility=facility, division=division,
            name=name, scopes=sorted(set(scopes)), rate_per_minute=rate_per_minute, expires_at=expires_at,
            created_at=now, created_by=actor,
        )
        _event(actor=actor, event_type=EventType.OAUTH_CLIENT_ISSUE, client=client, details={
            "scopes": client.scopes, "rate_per_minute": rate_per_minute,
            "expires_at": expires_at.isoformat() if expires_at else None, "acting_user": acting_user.username,
        })
    return client, secret


def partner_client_rotate(*, actor, client: PartnerClient, overlap_hours: int | None = None) -> str:
    """A new secret, shown once; the old one still obtains tokens for ``overlap_hours`` (default
    ``TELEMED_OAUTH_ROTATION_OVERLAP_HOURS``), so the partner can switch without an outage. Tokens
    already issued stay valid until they expire (revoke to end them at once)."""
    if not may_manage(actor, facility_id=client.facility_id, division_code=client.division_id):
        raise _denied(actor, EventType.OAUTH_CLIENT_ROTATE, client=client)
    if overlap_hours is None:
        overlap_hours = settings.TELEMED_OAUTH_ROTATION_OVERLAP_HOURS
    if not 0 <= overlap_hours <= settings.TELEMED_OAUTH_ROTATION_OVERLAP_MAX_HOURS:
        raise ApplicationError("invalid", _("旧密钥的过渡期须在 0 至 %(max)d 小时之间。") % {
            "max": settings.TELEMED_OAUTH_ROTATION_OVERLAP_MAX_HOURS})
    if client.revoked_at is not None:
        raise ApplicationError("client_revoked", _("该对接应用已吊销，不能轮换密钥。"), status=409)
    now = timezone.now()
    secret = generate_client_secret()
    with service_transaction():
        application = client.application
        until = rules.overlap_until(rotated_at=now, overlap_hours=overlap_hours)
        client.previous_secret = application.client_secret if until else ""  # already a hash
        client.previous_secret_until = until
        client.secret_rotated_at = now
        client.save(update_fields=["previous_secret", "previous_secret_until", "secret_rotated_at"])
        application.client_secret = secret
        application.save(update_fields=["client_secret"])
        _event(actor=actor, event_type=EventType.OAUTH_CLIENT_ROTATE, client=client, details={
            "overlap_hours": overlap_hours, "previous_secret_until": until.isoformat() if until else None})
    return secret


def partner_client_revoke(*, actor, client: PartnerClient, reason: str) -> None:
    """Revoke at once: every access token of the application is deleted, the secret (old and new)
    obtains nothing more, an identity made for the application is deactivated, and its webhook
    subscriptions are disabled."""
    from telemed.webhooks.services import webhook_subscriptions_disable_for_client

    if not may_manage(actor, facility_id=client.facility_id, division_code=client.division_id):
        raise _denied(actor, EventType.OAUTH_CLIENT_REVOKE, client=client)
    reason = clean_text(reason or "", keep_lines=False).strip()[:REASON_MAX]
    if not reason:
        raise ApplicationError("invalid", _("吊销对接应用须说明原因。"), {"fields": {"reason": [_("请填写原因。")]}})
    if client.revoked_at is not None:
        raise ApplicationError("client_revoked", _("该对接应用已吊销。"), status=409)
    with service_transaction():
        claimed = PartnerClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor, revoke_reason=reason, previous_secret="",
            previous_secret_until=None,
        )
        if claimed != 1:
            raise ApplicationError("client_revoked", _("该对接应用已吊销。"), status=409)
        tokens, _detail = get_access_token_model().objects.filter(application_id=client.application_id).delete()
        if client.owns_user:
            get_user_model().objects.filter(pk=client.user_id).update(is_active=False)
        client.refresh_from_db()
        # Issue 14: a revoked application receives no more events; each subscription's end is on record.
        subscriptions = webhook_subscriptions_disable_for_client(
            actor=actor, client=client, reason=_("对接应用已吊销：%(reason)s") % {"reason": reason})
        _event(actor=actor, event_type=EventType.OAUTH_CLIENT_REVOKE, client=client,
               details={"reason": reason, "tokens_revoked": tokens, "webhook_subscriptions_disabled": subscriptions})


def partner_client_used(client: PartnerClient, *, now: dt.datetime) -> None:
    """The last-used time, written at most once a minute per application (no write per request)."""
    if client.last_used_at is None or now - client.last_used_at >= dt.timedelta(minutes=1):
        PartnerClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


def token_issued_record(*, client: PartnerClient, scope: str, expires_in, ip_address: str | None) -> None:
    """``oauth.token.issue``: who obtained a token, for which scopes (never the token)."""
    with transaction.atomic():
        _event(actor=client.user, event_type=EventType.OAUTH_TOKEN_ISSUE, client=client,
               details={"scope": scope, "expires_in": expires_in, "ip_address": ip_address})


def token_refused_record(*, client_id: str, error: str, client: PartnerClient | None, ip_address: str | None) -> None:
    """``oauth.token.refuse`` (JL-A1): a wrong secret, an unknown, revoked or expired client, a
    wrong grant or scope — the client id as sent (cleaned), never the secret."""
    with transaction.atomic():
        audit_event_append(
            actor=client.user if client is not None else None, event_type=EventType.OAUTH_TOKEN_REFUSE,
            outcome=Outcome.FAILURE, obj=client,
            facility_ids=_facility_ids(client) if client is not None else (),
            details={"code": error, "client_id": client_id, "ip_address": ip_address},
        )
