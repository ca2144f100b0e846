"""Run the whole portal on this machine: web server, Celery worker and beat, demonstration data.

``python manage.py rundemo`` migrates, loads ``seed_demo`` (idempotent), collects static files and
starts gunicorn plus one Celery worker with beat embedded, on whatever database and broker the
settings name (SQLite and the filesystem broker when nothing is set). Ctrl-C stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from facilities import demo_data


class Command(BaseCommand):
    help = "Migrate, load demonstration data and run web + Celery worker + beat together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-seed", action="store_true", help="skip loading the demonstration data")

    def handle(self, *args, host: str, port: int, no_seed: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_seed:
            call_command("seed_demo")
        call_command("collectstatic", interactive=False, verbosity=0)

        python = sys.executable
        # Plain http on this machine (JL-A2's one opt-out, TELEMED_ALLOW_HTTP), said explicitly for the
        # children even though manage.py already set it for `rundemo`.
        env = {**os.environ, "TELEMED_ALLOW_HTTP": "1"}
        children = {
            "celery": subprocess.Popen(  # noqa: S603 - fixed argument list, our own interpreter
                [python, "-m", "celery", "-A", "telemed", "worker", "--beat", "--loglevel=INFO", "--concurrency=2",
                 # One worker for every queue here; a province runs one per queue (docs/scaling.md).
                 "--queues", ",".join(settings.TELEMED_TASK_QUEUES),
                 "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME], env=env,
            ),
            "web": subprocess.Popen(  # noqa: S603
                [python, "-m", "gunicorn", "telemed.wsgi:application", "--bind", f"{host}:{port}",
                 "--workers", "2", "--access-logfile", "-"], env=env,
            ),
        }
        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            self.style.SUCCESS(
                f"\n吉林省远程医疗服务平台 running at http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs/)\n"
                f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
                f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}. Press Ctrl-C to stop web, worker and beat.\n"
                "双重认证 Two-factor: regulators, facility admins and the three administrators (三员分立: sysadmin "
                "系统管理员, secadmin 安全管理员, auditadmin 审计管理员) are asked for a code after the password; "
                "get it with `python manage.py demo_totp <username>` (e.g. reg_province, secadmin).\n"
                "对接应用 Partner API (OAuth2 client credentials → POST /api/v1/oauth/token/ "
                "grant_type=client_credentials, then Authorization: Bearer <access_token>):\n"
                + "".join(f"  client_id {c.client_id}  client_secret {c.secret}  ({c.note})\n" for c in demo_data.DEMO_CLIENTS)
                + "Example partner client: python examples/partner_client.py --base-url "
                f"http://{host}:{port} (examples/README.md; its loopback receiver needs TELEMED_WEBHOOK_ALLOW_PRIVATE=1).\n"
            )
        )
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with status {child.returncode}; stopping the rest.")
                        exit_code = child.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        if exit_code:
            sys.exit(exit_code)
