"""JL-A2 (GB/T 22239-2019 8.1.4.7–8.1.4.8): transport security, security headers, no-store and
request size limits (docs/security.md)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from telemed import transport

ROOT = Path(__file__).resolve().parents[2]


# --- Transport: secure by default with DEBUG off --------------------------------------------------


def test_jl_a2_production_defaults_are_https_only():
    values = transport.transport_settings(debug=False, allow_http=False)
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


@pytest.mark.parametrize("debug, allow_http", [(True, False), (False, True), (True, True)])
def test_jl_a2_plain_http_only_for_debug_or_the_explicit_opt_out(debug, allow_http):
    values = transport.transport_settings(debug=debug, allow_http=allow_http, proxy_ssl_header="X-Forwarded-Proto=https")
    assert not any(values[name] for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
                                             "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS"))
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_jl_a2_the_proxy_header_setting_is_parsed_or_refused():
    assert transport.parse_proxy_ssl_header("") is None
    assert transport.parse_proxy_ssl_header(" X-Forwarded-Proto = https ") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert transport.parse_proxy_ssl_header("X-Forwarded-Ssl=on") == ("HTTP_X_FORWARDED_SSL", "on")
    for bad in ("X-Forwarded-Proto", "=https", "X Forwarded=https", "X-Forwarded-Proto="):
        with pytest.raises(ImproperlyConfigured, match="TELEMED_PROXY_SSL_HEADER"):
            transport.parse_proxy_ssl_header(bad)


@pytest.mark.parametrize(
    "key",
    ["", "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production", "django-insecure-" + "x1y2z3" * 10,
     "short-key", "ab" * 40],
)
def test_jl_a2_no_start_without_a_real_secret_key_when_debug_is_off(key, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="JL-A2"):
        transport.secret_key(key, debug=False, allow_http=False, var_dir=tmp_path)


def test_jl_a2_a_real_secret_key_is_kept(tmp_path):
    key = secrets.token_urlsafe(64)
    assert transport.secret_key(key, debug=False, allow_http=False, var_dir=tmp_path) == key
    assert not (tmp_path / "secret_key").exists()


def test_jl_a2_local_use_without_a_key_gets_one_random_key_per_checkout(tmp_path):
    first = transport.secret_key("", debug=False, allow_http=True, var_dir=tmp_path / "var")
    again = transport.secret_key("", debug=True, allow_http=False, var_dir=tmp_path / "var")
    assert first == again and transport.weak_secret_key_reason(first) is None
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert transport.secret_key("", debug=True, allow_http=False, var_dir=tmp_path / "other") != first
    # A weak key that was set is refused even where plain http is allowed.
    with pytest.raises(ImproperlyConfigured, match="JL-A2"):
        transport.secret_key("short", debug=False, allow_http=True, var_dir=tmp_path / "var")


def _production_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"TELEMED_ALLOW_HTTP", "DJANGO_DEBUG", "DATABASE_URL", "DJANGO_SECRET_KEY"}}
    env.update(DJANGO_SETTINGS_MODULE="telemed.settings", TELEMED_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def test_jl_a2_the_settings_read_from_a_production_environment_are_secure(tmp_path):
    code = (
        "import json; from django.conf import settings as s; print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_PROXY_SSL_HEADER]))"
    )
    env = _production_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
                          TELEMED_PROXY_SSL_HEADER="X-Forwarded-Proto=https")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                         check=True, timeout=120)
    assert json.loads(out.stdout) == [False, True, True, True, 31536000, True, ["HTTP_X_FORWARDED_PROTO", "https"]]


def test_jl_a2_the_portal_refuses_to_start_without_a_secret_key(tmp_path):
    code = "from django.conf import settings; settings.SECRET_KEY"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_production_env(tmp_path),  # noqa: S603
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and "JL-A2" in out.stderr and "TELEMED_ALLOW_HTTP" in out.stderr


def test_jl_a2_the_deployment_check_passes_without_a_warning(tmp_path):
    """`manage.py check --deploy --fail-level WARNING` with production settings, as CI runs it."""
    env = _production_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(64))
    out = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "no issues" in out.stdout


def test_jl_a2_the_test_suite_opts_out_explicitly(settings):
    assert settings.TELEMED_ALLOW_HTTP is True and os.environ["TELEMED_ALLOW_HTTP"] == "1"
    assert settings.SECURE_SSL_REDIRECT is False
