"""三员分立 (JL-A2, GB/T 22239-2019 8.1.4.2 d): system, security and audit administrators.

The single all-powerful operator is gone. Three platform roles (``choices.AdminRole``), each held
through an ``AdminAssignment`` row beside the facility (``StaffMembership``) and regulator
(``RegulatorMembership``) roles, and read by the same ``Scope`` in the same query:

- **系统管理员 system administrator**: configuration and accounts — the facility registry, accounts
  (create, rename, deactivate, reset the password of an ordinary account) in the admin site;
- **安全管理员 security administrator**: roles and policies — grants and revokes the three roles and
  the facility and regulator roles, releases lockouts (``facilities.release_lockout``);
- **审计管理员 audit administrator**: reads the audit log, runs and reads the chain verification
  and changes nothing.

None of the three sees patient or case data: ``ScopedQuerySet.visible_to`` is empty for them (no
facility, no division), and no role's permissions (``ROLE_PERMISSIONS``, the table as data) reach a
clinical, billing or audit-writing admin page. Their permissions come from ``AdminRoleBackend``
(in ``AUTHENTICATION_BACKENDS``), so the table here is the whole truth — no Django group to drift.
All three must pass the second factor (``facilities.twofactor.required_for``), the admin site too.

Grants and revokes are services here (each one audit event, JL-A1; a refusal too). ``actor=None``
means the installer at the server's command line (``manage.py create_admins``), where there is no
administrator yet to do it.

Break-glass: Django's ``is_superuser`` still exists, for a person at the server's console when
everything else is lost (``manage.py createsuperuser``). Nothing in the portal grants or needs it;
``is_break_glass`` below is the one place that reads the flag (the admin site lets such an account
in, after the second factor, which it needs like the three; the account admin keeps it out of the
system administrator's reach);
``tests/facilities/test_separation_of_duties.py`` fails on any other place.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.admin import OTPAdminSite

from audit.choices import EventType
from audit.services import audit_event_append, audit_refusal
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.transactions import service_transaction

from . import rules
from .choices import AdminRole
from .models import AdminAssignment, RegulatorMembership, StaffMembership

# What each role may do, as Django permissions (the admin site and ``user.has_perm`` read them).
# Views (``view_*``) of related rows are there where the admin's forms need them to pick a row.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    AdminRole.SYSTEM: frozenset({
        "auth.view_user", "auth.add_user", "auth.change_user",
        "facilities.view_facility", "facilities.add_facility", "facilities.change_facility",
        "facilities.view_division", "facilities.view_servicetype",
    }),
    AdminRole.SECURITY: frozenset({
        "facilities.release_lockout",
        "facilities.view_adminassignment", "facilities.add_adminassignment", "facilities.change_adminassignment",
        "facilities.view_staffmembership", "facilities.add_staffmembership",
        "facilities.view_regulatormembership", "facilities.add_regulatormembership",
        "auth.view_user", "facilities.view_facility", "facilities.view_division",
    }),
    AdminRole.AUDIT: frozenset({
        "audit.view_auditevent", "audit.view_verificationrun", "facilities.view_adminassignment", "auth.view_user",
    }),
}


def is_break_glass(user) -> bool:
    """The one place that reads ``is_superuser`` (see the module docstring)."""
    return bool(getattr(user, "is_superuser", False))


def permissions_of(user) -> frozenset[str]:
    if not (user and user.is_authenticated and user.is_active):
        return frozenset()
    found: set[str] = set()
    for role in Scope.of(user).admin_roles:
        found |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(found)


class AdminRoleBackend(BaseBackend):
    """Model permissions of the three administrators, from ``ROLE_PERMISSIONS`` (JL-A2 三员分立).
    Authenticates nobody; never grants anything on a single object."""

    def get_all_permissions(self, user_obj, obj=None):
        return set() if obj is not None else set(permissions_of(user_obj))

    def has_perm(self, user_obj, perm, obj=None):
        return obj is None and perm in permissions_of(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return any(perm.startswith(f"{app_label}.") for perm in permissions_of(user_obj))


class PortalAdminSite(OTPAdminSite):
    """The admin site (``telemed.urls`` swaps ``admin.site`` to it): the three administrators (and a
    break-glass account) after the second factor (JL-A2 8.1.4.1 d); each sees its own models only."""

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and (Scope.of(user).is_platform_admin or is_break_glass(user))):
            return False
        return user.is_verified()


# --- Grants and revokes (JL-A1: each one on record) ---------------------------------------------


def _forget_scope(user) -> None:
    user.__dict__.pop("_telemed_scope", None)


def _require_security_admin(actor, *, event_type: str, details: dict) -> None:
    """``actor=None`` is the installer's command line; anyone else must be a security administrator."""
    if actor is None or Scope.of(actor).is_security_admin:
        return
    raise audit_refusal(
        ApplicationError("permission_denied", _("JL-A2 三员分立: 只有安全管理员可以授予或撤销管理员角色。"), status=403),
        actor=actor, event_type=event_type, details=details,
    )


def admin_role_grant(*, actor, user, role: str, reason: str = "") -> AdminAssignment:
    """Give ``user`` one of the three administrator roles (JL-A2 三员分立), on record (JL-A1).

    Refused, and the refusal recorded, when the actor is not a security administrator, when the user
    already holds another of the three, holds a facility or regulator role, or is the actor. Granting
    a role the user already holds changes nothing and returns it.
    """
    details = {"user_id": user.pk, "username": user.get_username(), "role": role, "reason": (reason or "").strip()}
    _require_security_admin(actor, event_type=EventType.MEMBERSHIP_ADMIN_GRANT, details=details)
    given = user
    with service_transaction():
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        held = set(AdminAssignment.objects.filter(user=user, active=True).values_list("role", flat=True))
        if role in held:
            return AdminAssignment.objects.get(user=user, role=role, active=True)
        holds_data_roles = (
            StaffMembership.objects.filter(user=user, active=True).exists()
            or RegulatorMembership.objects.filter(user=user, active=True).exists()
        )
        bad = [c for c in rules.admin_role_checks(
            role=role, held_admin_roles=held, holds_data_roles=holds_data_roles,
            is_self=actor is not None and actor.pk == user.pk, active=user.is_active,
        ) if not c.passed]
        if bad:
            raise audit_refusal(
                ApplicationError.from_reasons(bad), actor=actor, event_type=EventType.MEMBERSHIP_ADMIN_GRANT, details=details,
            )
        assignment = AdminAssignment.objects.create(
            user=user, role=role, active=True, granted_at=timezone.now(), granted_by=actor, reason=details["reason"],
        )
        audit_event_append(actor=actor, event_type=EventType.MEMBERSHIP_ADMIN_GRANT, obj=assignment, details=details)
    _forget_scope(given)
    return assignment


def admin_role_form_errors(form, *, actor, user, role: str) -> None:
    """The admin form's view of ``admin_role_grant``'s checks (pure rules, nothing written)."""
    held = set(AdminAssignment.objects.filter(user=user, active=True).values_list("role", flat=True))
    holds_data_roles = (
        StaffMembership.objects.filter(user=user, active=True).exists()
        or RegulatorMembership.objects.filter(user=user, active=True).exists()
    )
    for check in rules.admin_role_checks(
        role=role, held_admin_roles=held, holds_data_roles=holds_data_roles,
        is_self=actor is not None and actor.pk == user.pk, active=user.is_active,
    ):
        if not check.passed:
            form.add_error(None, check.text)


def admin_role_revoke(*, actor, assignment: AdminAssignment, reason: str) -> AdminAssignment:
    """End an administrator role (JL-A2), with a reason, on record (JL-A1). The row stays."""
    details = {"user_id": assignment.user_id, "role": assignment.role, "reason": (reason or "").strip()}
    _require_security_admin(actor, event_type=EventType.MEMBERSHIP_ADMIN_REVOKE, details=details)
    if not details["reason"]:
        raise ApplicationError("JL-A2", _("JL-A2 三员分立: 撤销管理员角色须说明理由。"))
    with service_transaction():
        assignment = AdminAssignment.objects.select_for_update().get(pk=assignment.pk)
        if not assignment.active:
            raise ApplicationError("invalid_state", _("该管理员角色已撤销。"))
        assignment.active = False
        assignment.ended_at = timezone.now()
        assignment.ended_by = actor
        assignment.end_reason = details["reason"]
        assignment.save(update_fields=["active", "ended_at", "ended_by", "end_reason"])
        audit_event_append(actor=actor, event_type=EventType.MEMBERSHIP_ADMIN_REVOKE, obj=assignment, details=details)
    _forget_scope(assignment.user)
    return assignment


def admin_account_create(
    *, actor, username: str, password: str, role: str, display_name: str = "", email: str = "", reason: str = "",
):
    """Create an administrator's account and grant its role in one transaction (``create_admins``).

    The password must pass every ``AUTH_PASSWORD_VALIDATORS`` rule (JL-A2 8.1.4.1 a): a weak one is
    refused with the validators' Chinese messages and nothing is created.
    """
    user_model = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ApplicationError("invalid", _("请填写用户名。"))
    if role not in AdminRole.values:
        raise ApplicationError("invalid", _("未知的管理员角色：%(role)s。") % {"role": role})
    if user_model.objects.filter(username=username).exists():
        raise ApplicationError("duplicate", _("用户名 %(username)s 已存在。") % {"username": username})
    user = user_model(username=username, first_name=display_name.strip(), email=email.strip())
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ApplicationError("weak_password", " ".join(error.messages), {"rule": "JL-A2"}) from error
    with service_transaction():
        user.set_password(password)
        user.save()
        audit_event_append(
            actor=actor, event_type=EventType.ACCOUNT_CREATE, obj=user, details={"username": username, "for_role": role},
        )
        admin_role_grant(actor=actor, user=user, role=role, reason=reason or _("创建管理员账号"))
    return user
