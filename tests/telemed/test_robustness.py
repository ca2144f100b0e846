"""Issue 8: the portal survives a dropped database connection, and the audit log's network address
(JL-A1) cannot be forged by a client's X-Forwarded-For."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory

from telemed.context import client_ip

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


def test_jl_a1_trusted_proxies_are_read_from_the_environment_and_normalised(tmp_path):
    out = _settings_value("s.TELEMED_TRUSTED_PROXIES", {"TELEMED_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1 ,::1"}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('10.0.0.0/8', '127.0.0.1/32', '::1/128')"
    assert _settings_value("s.TELEMED_TRUSTED_PROXIES", {}, tmp_path).stdout.strip() == "()"


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.example.org", "10.0.0.1,,garbage"])
def test_jl_a1_a_bad_trusted_proxy_stops_start_up(value, tmp_path):
    out = _settings_value("s.TELEMED_TRUSTED_PROXIES", {"TELEMED_TRUSTED_PROXIES": value}, tmp_path)
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and "TELEMED_TRUSTED_PROXIES" in out.stderr


def _ip(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_jl_a1_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.TELEMED_TRUSTED_PROXIES = ()
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # TLS behind a proxy is not trust
    assert _ip("203.0.113.7", "1.2.3.4") == "203.0.113.7"


def test_jl_a1_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.TELEMED_TRUSTED_PROXIES = ("10.0.0.0/8",)
    assert _ip("203.0.113.7", "1.2.3.4") == "203.0.113.7"


def test_jl_a1_the_rightmost_untrusted_address_is_the_client(settings):
    settings.TELEMED_TRUSTED_PROXIES = ("10.0.0.0/8", "127.0.0.1/32")
    # The client wrote "6.6.6.6" itself; the edge proxy (10.0.0.5) appended the real peer 198.51.100.9.
    assert _ip("127.0.0.1", "6.6.6.6, 198.51.100.9, 10.0.0.5") == "198.51.100.9"
    assert _ip("10.1.1.1", "2001:db8::1") == "2001:db8::1"


def test_jl_a1_a_malformed_forwarded_address_falls_back_to_the_peer(settings):
    settings.TELEMED_TRUSTED_PROXIES = ("10.0.0.0/8",)
    assert _ip("10.0.0.2", "1.2.3.4, not-an-ip") == "10.0.0.2"
    assert _ip("10.0.0.2", "") == "10.0.0.2"
    assert _ip("10.0.0.2", "10.0.0.3, 10.0.0.4") == "10.0.0.2"  # nothing but proxies: the peer
    assert _ip("unix-socket") is None
