"""``manage.py create_admins``: the three administrators of 三员分立 (JL-A2, GB/T 22239-2019 8.1.4.2 d).

Creates one account per role — system administrator, security administrator, audit administrator —
and grants its role through ``facilities.admins`` (audit events ``account.create`` and
``membership.admin.grant``, actor: the command line). No superuser is needed or made.

Non-interactive (deployment scripts)::

    TELEMED_SYSTEM_ADMIN_PASSWORD=… TELEMED_SECURITY_ADMIN_PASSWORD=… TELEMED_AUDIT_ADMIN_PASSWORD=… \\
        python manage.py create_admins --noinput --system-admin sysadmin --security-admin secadmin --audit-admin auditadmin

Passwords come from the environment, never the command line (where ``ps`` would show them).
Interactive (the default): asks for each username and password (twice, hidden). Every password must
pass ``AUTH_PASSWORD_VALIDATORS`` (JL-A2 8.1.4.1 a); a weak one is refused with the validators' Chinese
messages — asked again interactively, nothing created non-interactively. An account that already
holds its role is left as it is; an existing account without it is refused. Each administrator binds
an authenticator at their first sign-in (two-factor is required of all three).
"""

from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from facilities import admins
from facilities.choices import AdminRole
from facilities.models import AdminAssignment
from telemed.context import use_context
from telemed.errors import ApplicationError

ROLES = (
    # (role, option, default username, password environment variable)
    (AdminRole.SYSTEM, "system_admin", "sysadmin", "TELEMED_SYSTEM_ADMIN_PASSWORD"),
    (AdminRole.SECURITY, "security_admin", "secadmin", "TELEMED_SECURITY_ADMIN_PASSWORD"),
    (AdminRole.AUDIT, "audit_admin", "auditadmin", "TELEMED_AUDIT_ADMIN_PASSWORD"),
)


class Command(BaseCommand):
    help = "Create the system, security and audit administrators (三员分立, JL-A2), one account per role."

    def add_arguments(self, parser):
        for role, option, default, env in ROLES:
            parser.add_argument(
                f"--{option.replace('_', '-')}", dest=option, default=None,
                help=f"username of the {role.label} (default {default}); its password from ${env} with --noinput",
            )
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="ask nothing: usernames from the options, passwords from the environment")

    def handle(self, *args, interactive: bool = True, **options):
        plans = []  # (role, username, password or None when the account already holds the role)
        for role, option, default, env in ROLES:
            username = options.get(option) or (self._ask_username(role, default) if interactive else default)
            if self._holds(username, role):
                plans.append((role, username, None))
                continue
            if get_user_model().objects.filter(username=username).exists():
                raise CommandError(f"JL-A2: 账号 {username} 已存在且不是{role.label}；请换一个用户名 / account exists.")
            password = self._ask_password(role, username) if interactive else self._env_password(role, username, env)
            plans.append((role, username, password))
        names = [username for _role, username, _password in plans]
        if len(set(names)) != len(names):
            raise CommandError("JL-A2 三员分立: 三个管理员须是三个不同的账号 / three different accounts.")
        with use_context(channel="command"), transaction.atomic():
            for role, username, password in plans:
                if password is None:
                    self.stdout.write(f"{role.label} {username}: 已存在，未改动 / already there, unchanged")
                    continue
                try:
                    admins.admin_account_create(actor=None, username=username, password=password, role=role,
                                                display_name=str(role.label))
                except ApplicationError as error:
                    raise CommandError(error.message) from error
                self.stdout.write(self.style.SUCCESS(f"{role.label} {username}: 已创建 / created"))
        self.stdout.write("双重认证 Two-factor: 每位管理员首次登录时绑定身份验证器 / each binds an authenticator at first sign-in.")

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _holds(username: str, role: str) -> bool:
        return AdminAssignment.objects.filter(user__username=username, role=role, active=True).exists()

    @staticmethod
    def _check(username: str, password: str) -> list[str]:
        try:
            password_validation.validate_password(password, get_user_model()(username=username))
        except ValidationError as error:
            return list(error.messages)
        return []

    def _env_password(self, role, username: str, env: str) -> str:
        password = os.environ.get(env, "")
        if not password:
            raise CommandError(f"--noinput: 请在环境变量 {env} 中给出{role.label}的密码 / set {env}.")
        problems = self._check(username, password)
        if problems:
            raise CommandError(f"{role.label} {username}: " + " ".join(problems))
        return password

    def _ask_username(self, role, default: str) -> str:
        answer = input(f"{role.label}用户名 username [{default}]: ").strip()
        return answer or default

    def _ask_password(self, role, username: str) -> str:
        while True:
            password = getpass.getpass(f"{role.label} {username} 密码 password: ")
            if password != getpass.getpass("再次输入 again: "):
                self.stderr.write("两次输入的密码不一致 / the passwords differ.")
                continue
            problems = self._check(username, password)
            if not problems:
                return password
            for problem in problems:
                self.stderr.write(problem)
