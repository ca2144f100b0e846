"""三员分立 (JL-A2, GB/T 22239-2019 8.1.4.2 d): the system, security and audit administrators.

For each role: what it reaches and what it does not (pages, API, admin site); that nothing in the
portal needs ``is_superuser``; ``manage.py create_admins``; the audit events of grants and revokes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.selectors import may_read_audit_log
from facilities import admins, rules, signin, twofactor
from facilities.choices import AdminRole, StaffRole
from facilities.models import AdminAssignment, StaffMembership
from facilities.services import membership_grant
from telemed.context import use_context
from telemed.errors import ApplicationError
from telemed.navigation import navigation
from telemed.scope import Scope
from tests.factories import FacilityFactory, UserFactory, administrator, regulator, staff

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
STRONG = "Kx7-qu!ltz-29"


def events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("sequence"))


@pytest.fixture
def three(db):
    return {role: administrator(role, username=role.replace("_", "")) for role in AdminRole.values}


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- The rule, pure ---------------------------------------------------------------------------------


def test_jl_a2_separation_rule_one_role_per_person_no_data_roles_not_oneself():
    """JL-A2 三员分立: every check is returned; each failing one says why in Chinese."""
    ok = rules.admin_role_checks(role=AdminRole.AUDIT, held_admin_roles=(), holds_data_roles=False, is_self=False)
    assert all(c.passed for c in ok) and len(ok) == 5
    second = rules.admin_role_checks(role=AdminRole.AUDIT, held_admin_roles={AdminRole.SYSTEM}, holds_data_roles=False, is_self=False)
    assert [c.detail for c in second if not c.passed] == ["该账号已是系统管理员"]
    data = rules.admin_role_checks(role=AdminRole.SECURITY, held_admin_roles=(), holds_data_roles=True, is_self=True)
    failing = [c.text for c in data if not c.passed]
    assert len(failing) == 2 and all(text.startswith("JL-A2 等保三级 8.1.4.2 d") for text in failing)
    unknown = rules.admin_role_checks(role="operator", held_admin_roles=(), holds_data_roles=False, is_self=False)
    assert [c.passed for c in unknown][0] is False
    assert not rules.data_role_check(holds_admin_role=True).passed and rules.data_role_check(holds_admin_role=False).passed


# --- Grants and revokes: services and audit events (JL-A1) -----------------------------------------


def test_jl_a2_the_security_administrator_grants_and_revokes_a_role_each_on_record(three):
    newcomer = UserFactory(username="wang_audit")
    security = three[AdminRole.SECURITY]
    assignment = admins.admin_role_grant(actor=security, user=newcomer, role=AdminRole.AUDIT, reason="新任审计管理员")
    [grant] = [e for e in events("membership.admin.grant") if e.actor_id == security.pk]
    assert grant.outcome == "success" and grant.object_id == str(assignment.pk)
    assert grant.details["role"] == "audit_admin" and grant.details["user_id"] == newcomer.pk
    newcomer = get_user_model().objects.get(pk=newcomer.pk)
    assert signed_in(newcomer).get(reverse("audit:chain")).status_code == 200

    with pytest.raises(ApplicationError, match="须说明理由"):
        admins.admin_role_revoke(actor=security, assignment=assignment, reason=" ")
    admins.admin_role_revoke(actor=security, assignment=assignment, reason="调离岗位")
    [revoke] = events("membership.admin.revoke")
    assert revoke.actor_id == security.pk and revoke.details["reason"] == "调离岗位"
    assignment.refresh_from_db()
    assert not assignment.active and assignment.ended_by == security  # the row stays (JL-A1)
    newcomer = get_user_model().objects.get(pk=newcomer.pk)
    assert not Scope.of(newcomer).is_audit_admin and not may_read_audit_log(newcomer)


@pytest.mark.parametrize("actor_role", [AdminRole.SYSTEM, AdminRole.AUDIT])
def test_jl_a2_only_the_security_administrator_grants_roles_and_a_refusal_is_on_record(three, actor_role):
    actor = three[actor_role]
    with pytest.raises(ApplicationError) as refused:
        admins.admin_role_grant(actor=actor, user=UserFactory(username="x"), role=AdminRole.SYSTEM)
    assert refused.value.status == 403 and "JL-A2 三员分立" in refused.value.message
    [event] = [e for e in events("membership.admin.grant") if e.outcome == "failure"]
    assert event.actor_id == actor.pk and event.details["code"] == "permission_denied"
    assert not AdminAssignment.objects.filter(user__username="x").exists()


def test_jl_a2_one_person_holds_one_role_none_beside_data_roles_never_granted_to_oneself(three):
    security = three[AdminRole.SECURITY]
    with pytest.raises(ApplicationError, match="一人只担任一种管理员角色"):
        admins.admin_role_grant(actor=security, user=three[AdminRole.SYSTEM], role=AdminRole.AUDIT)
    clinician = staff(FacilityFactory(), StaffRole.CLINICIAN, username="doc")
    with pytest.raises(ApplicationError, match="不接触患者和病例数据"):
        admins.admin_role_grant(actor=security, user=clinician, role=AdminRole.AUDIT)
    with pytest.raises(ApplicationError, match="不能给自己授予管理员角色"):
        admins.admin_role_grant(actor=security, user=security, role=AdminRole.SECURITY.value.replace("security", "audit"))
    refusals = [e for e in events("membership.admin.grant") if e.outcome == "failure"]
    assert len(refusals) == 3 and all(e.details["code"] == "JL-A2" for e in refusals)
    # … and the other way round: a facility administrator cannot give an administrator a facility role.
    facility = FacilityFactory()
    with pytest.raises(ApplicationError, match="管理员不兼任机构或监管角色"):
        membership_grant(actor=staff(facility, StaffRole.FACILITY_ADMIN, username="fa"), user=three[AdminRole.AUDIT],
                         facility=facility, role=StaffRole.CLINICIAN)
    assert not StaffMembership.objects.filter(user=three[AdminRole.AUDIT]).exists()


def test_jl_a2_the_security_administrator_grants_facility_and_regulator_roles(three):
    facility = FacilityFactory()
    person = UserFactory(username="new_doc")
    membership_grant(actor=three[AdminRole.SECURITY], user=person, facility=facility, role=StaffRole.CLINICIAN)
    assert events("membership.grant")[-1].actor_id == three[AdminRole.SECURITY].pk
    with pytest.raises(ApplicationError):
        membership_grant(actor=three[AdminRole.SYSTEM], user=person, facility=facility, role=StaffRole.FINANCE)


# --- Reach: pages, API and admin site, role by role --------------------------------------------------


@pytest.fixture
def case(world):
    return world.sent()


@pytest.mark.parametrize("role", AdminRole.values)
def test_jl_a2_no_administrator_sees_a_patient_or_a_case(three, case, role):
    """三员分立: administrators see no patient or case data; an object out of scope is 404 (STYLE 3)."""
    client = signed_in(three[role])
    assert client.get(reverse("consultations:detail", args=[case.pk])).status_code == 404
    listing = client.get(reverse("consultations:list"))
    assert listing.status_code in (200, 403) and case.number not in listing.content.decode()
    assert case.patient.name not in client.get(reverse("home")).content.decode()
    assert client.get(f"/api/v1/consultations/{case.pk}/").status_code == 404
    assert client.get(f"/api/v1/patients/{case.patient_id}/").status_code == 404
    for url in ("/api/v1/consultations/", "/api/v1/patients/"):
        answer = client.get(url)
        assert answer.status_code == 403 or answer.json()["count"] == 0, url
    assert client.get(reverse("admin:consultations_consultation_changelist")).status_code == 403
    assert client.get(reverse("admin:consultations_patient_change", args=[case.patient_id])).status_code == 403
    assert client.get(reverse("admin:billing_charge_changelist")).status_code == 403


def test_jl_a2_the_system_administrator_configures_and_manages_accounts_only(three):
    client = signed_in(three[AdminRole.SYSTEM])
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:facilities_facility_add")).status_code == 200
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    added = client.post(reverse("admin:auth_user_add"), {"username": "zhao_new", "password1": STRONG, "password2": STRONG, "usable_password": "true"})
    assert added.status_code == 302 and get_user_model().objects.get(username="zhao_new").check_password(STRONG)
    weak = client.post(reverse("admin:auth_user_add"), {"username": "weak_one", "password1": "12345678", "password2": "12345678", "usable_password": "true"})
    assert weak.status_code == 200 and "JL-A2" in weak.content.decode() and not get_user_model().objects.filter(username="weak_one").exists()
    form = client.get(reverse("admin:auth_user_change", args=[get_user_model().objects.get(username="zhao_new").pk])).content.decode()
    assert 'name="is_superuser"' not in form and 'name="is_staff"' not in form and 'name="groups"' not in form
    # Not the other administrators' accounts (it could reset a password and act as them), no roles, no lockouts, no log.
    secadmin = three[AdminRole.SECURITY]
    assert client.post(reverse("admin:auth_user_password_change", args=[secadmin.pk]), {"password1": STRONG, "password2": STRONG}).status_code == 403
    assert client.get(reverse("admin:facilities_adminassignment_changelist")).status_code == 403
    assert client.get(reverse("admin:facilities_staffmembership_add")).status_code == 403
    assert client.get(reverse("facilities:lockout-list")).status_code == 403
    assert client.get(reverse("audit:chain")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
    assert client.get("/api/v1/fhir/AuditEvent").status_code == 403


def test_jl_a2_the_security_administrator_manages_roles_and_lockouts_only(three, client):
    for _attempt in range(5):
        client.post(reverse("login"), {"username": "li_hua", "password": "wrong-Pass-1"})
    security = signed_in(three[AdminRole.SECURITY])
    assert "li_hua" in security.get(reverse("facilities:lockout-list")).content.decode()
    assert security.get(reverse("admin:facilities_adminassignment_add")).status_code == 200
    assert security.get(reverse("admin:facilities_staffmembership_add")).status_code == 200
    assert security.get(reverse("admin:auth_user_add")).status_code == 403
    assert security.get(reverse("admin:facilities_facility_add")).status_code == 403
    assert security.get(reverse("audit:chain")).status_code == 403
    assert security.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
    assert security.get("/api/v1/fhir/AuditEvent").status_code == 403


def test_jl_a2_the_security_administrator_grants_through_the_admin_site_on_record(three):
    security = signed_in(three[AdminRole.SECURITY])
    person = UserFactory(username="liu_sys")
    granted = security.post(reverse("admin:facilities_adminassignment_add"), {"user": person.pk, "role": "system_admin", "reason": "新任"})
    assert granted.status_code == 302
    assignment = AdminAssignment.objects.get(user=person, active=True)
    assert events("membership.admin.grant")[-1].object_id == str(assignment.pk)
    second = security.post(reverse("admin:facilities_adminassignment_add"), {"user": person.pk, "role": "audit_admin", "reason": ""})
    assert second.status_code == 200 and "一人只担任一种管理员角色" in second.content.decode()
    change = reverse("admin:facilities_adminassignment_change", args=[assignment.pk])
    no_reason = security.post(change, {"end_reason": ""})
    assert no_reason.status_code == 200 and "须说明理由" in no_reason.content.decode()
    assert security.post(change, {"end_reason": "调岗"}).status_code == 302
    assignment.refresh_from_db()
    assert not assignment.active and events("membership.admin.revoke")[-1].details["reason"] == "调岗"


def test_jl_a2_the_audit_administrator_reads_and_verifies_the_log_and_changes_nothing(three, case):
    audit = signed_in(three[AdminRole.AUDIT])
    assert audit.get(reverse("audit:chain")).status_code == 200
    assert audit.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    event = AuditEvent.objects.order_by("sequence").first()
    assert audit.get(reverse("admin:audit_auditevent_change", args=[event.pk])).status_code == 200  # read-only view
    reads = events("audit.log.read")  # reading the log is itself on record (JL-A1)
    assert [(e.actor_id, e.object_id, e.details["via"]) for e in reads] == [
        (three[AdminRole.AUDIT].pk, "", "admin"), (three[AdminRole.AUDIT].pk, str(event.pk), "admin"),
    ]
    assert audit.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"event_type": "x"}).status_code == 403
    assert audit.get("/api/v1/fhir/AuditEvent").status_code == 200
    assert audit.get(reverse("admin:facilities_adminassignment_changelist")).status_code == 200  # who holds which role
    assert audit.get(reverse("admin:facilities_adminassignment_add")).status_code == 403
    assert audit.get(reverse("admin:auth_user_add")).status_code == 403
    assert audit.get(reverse("admin:facilities_facility_add")).status_code == 403
    assert audit.get(reverse("facilities:lockout-list")).status_code == 403
    assert audit.post(reverse("facilities:lockout-release"), {"kind": "username", "value": "x", "reason": "r"}).status_code == 403
    assert not signin.may_release_lockouts(three[AdminRole.AUDIT])


def test_jl_a2_the_admin_site_is_for_the_three_roles_after_the_second_factor(three, world):
    for user in (world.clinician, regulator("220000", username="reg"), staff(world.inviting, StaffRole.FACILITY_ADMIN, username="fa")):
        assert signed_in(user).get(reverse("admin:index")).status_code == 302  # to the admin's login
    unverified = APIClient()
    unverified.force_login(three[AdminRole.AUDIT], otp=False)
    assert unverified.get(reverse("admin:index")).status_code == 302


@pytest.mark.parametrize(("role", "present", "absent"), [
    (AdminRole.SYSTEM, {"系统管理"}, {"登录锁定", "审计链校验", "远程会诊", "查找", "监管统计"}),
    (AdminRole.SECURITY, {"系统管理", "登录锁定"}, {"审计链校验", "远程会诊", "查找"}),
    (AdminRole.AUDIT, {"系统管理", "审计链校验"}, {"登录锁定", "远程会诊", "查找"}),
])
def test_jl_a2_each_administrator_sees_its_own_menu(three, rf, role, present, absent):
    request = rf.get("/")
    request.user = get_user_model().objects.get(pk=three[role].pk)
    request.session = {}
    labels = {str(label) for label, _url in navigation(request)["nav_items"]}
    assert present <= labels and not (absent & labels)


# --- Nothing needs a superuser ----------------------------------------------------------------------


def test_jl_a2_no_production_path_branches_on_is_superuser():
    """The code and templates of the portal read ``is_superuser`` in one documented break-glass place
    (``facilities/admins.py``, ``is_break_glass``); seed_demo makes no superuser."""
    found = []
    for folder in ("telemed", "facilities", "consultations", "billing", "audit", "templates"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".html") or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if re.search(r"\.is_superuser|is_superuser\s*[=:]|[\"']is_superuser[\"']", line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    assert [place.split(":")[0] for place in found] == ["facilities/admins.py"] * len(found) and found, found


def test_jl_a2_scope_no_longer_knows_an_all_seeing_operator(world):
    world.sent()
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = signed_in(superuser)
    assert client.get("/api/v1/consultations/").json()["count"] == 0
    assert twofactor.required_for(superuser)  # break-glass: the second factor like the three administrators


# --- manage.py create_admins --------------------------------------------------------------------------


ENV = {"TELEMED_SYSTEM_ADMIN_PASSWORD": "Sys-admin-2026!", "TELEMED_SECURITY_ADMIN_PASSWORD": "Sec-admin-2026!",
       "TELEMED_AUDIT_ADMIN_PASSWORD": "Aud-admin-2026!"}


def test_jl_a2_create_admins_without_input_makes_three_accounts_on_record(monkeypatch, capsys):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    call_command("create_admins", "--noinput", "--system-admin", "sys1", "--security-admin", "sec1", "--audit-admin", "aud1")
    users = get_user_model().objects
    for username, role, key in (("sys1", "system_admin", "TELEMED_SYSTEM_ADMIN_PASSWORD"), ("sec1", "security_admin",
                                "TELEMED_SECURITY_ADMIN_PASSWORD"), ("aud1", "audit_admin", "TELEMED_AUDIT_ADMIN_PASSWORD")):
        user = users.get(username=username)
        assert user.check_password(ENV[key]) and not user.is_superuser and not user.is_staff
        assert list(user.admin_roles.filter(active=True).values_list("role", flat=True)) == [role]
    assert not users.filter(is_superuser=True).exists()
    created, granted = events("account.create"), events("membership.admin.grant")
    assert len(created) == len(granted) == 3 and all(e.actor_id is None and e.channel == "command" for e in created + granted)
    assert "已创建" in capsys.readouterr().out
    call_command("create_admins", "--noinput", "--system-admin", "sys1", "--security-admin", "sec1", "--audit-admin", "aud1")
    assert len(events("membership.admin.grant")) == 3  # a second run changes nothing


def test_jl_a2_create_admins_refuses_a_weak_password_and_creates_nothing(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TELEMED_AUDIT_ADMIN_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="JL-A2"):
        call_command("create_admins", "--noinput")
    monkeypatch.delenv("TELEMED_AUDIT_ADMIN_PASSWORD")
    with pytest.raises(CommandError, match="TELEMED_AUDIT_ADMIN_PASSWORD"):
        call_command("create_admins", "--noinput")
    with pytest.raises(CommandError, match="三个不同的账号"):
        monkeypatch.setenv("TELEMED_AUDIT_ADMIN_PASSWORD", "Aud-admin-2026!")
        call_command("create_admins", "--noinput", "--system-admin", "same", "--audit-admin", "same")
    assert not AdminAssignment.objects.exists() and not get_user_model().objects.exists()


def test_jl_a2_create_admins_asks_interactively_and_asks_again_after_a_weak_password(monkeypatch, capsys):
    answers = iter(["", "secx", ""])  # default sysadmin, secx, default auditadmin
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    passwords = iter(["password", "password", "Sys-admin-2026!", "Sys-admin-2026!", "Sec-admin-2026!", "Sec-admin-2026!x",
                      "Sec-admin-2026!", "Sec-admin-2026!", "Aud-admin-2026!", "Aud-admin-2026!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(passwords))
    call_command("create_admins")
    err = capsys.readouterr().err
    assert "JL-A2" in err and "两次输入的密码不一致" in err
    assert set(AdminAssignment.objects.values_list("user__username", "role")) == {
        ("sysadmin", "system_admin"), ("secx", "security_admin"), ("auditadmin", "audit_admin"),
    }


def test_jl_a2_create_admins_refuses_an_existing_account_without_the_role(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    UserFactory(username="sysadmin")
    with pytest.raises(CommandError, match="已存在"):
        call_command("create_admins", "--noinput")


def test_jl_a2_an_administrator_password_signs_in_through_the_login_form(client):
    with use_context(channel="command"):
        admins.admin_account_create(actor=None, username="aud9", password=STRONG, role=AdminRole.AUDIT)
    response = client.post(reverse("login"), {"username": "aud9", "password": STRONG})
    assert response.status_code == 302
    assert client.get(reverse("home")).url.startswith(reverse("otp-enrol"))  # two-factor first (JL-A2 d)
