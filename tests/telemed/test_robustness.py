"""Issue 8: the portal survives a dropped database connection, and the audit log's network address
(JL-A1) cannot be forged by a client's X-Forwarded-For."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _settings_value(expression: str, env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "TELEMED_TRUSTED_PROXIES"}}
    env.update({"TELEMED_VAR_DIR": str(tmp_path), **env_overrides})
    code = f"import django; django.setup(); from django.conf import settings as s; print({expression})"
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("database_url", ["", "postgres://postgres@127.0.0.1:5432/telemed"])
def test_stale_pooled_connections_are_health_checked_before_use(database_url, tmp_path):
    out = _settings_value("s.DATABASES['default']['CONN_HEALTH_CHECKS']", {"DATABASE_URL": database_url}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
