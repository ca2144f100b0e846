"""JL-A2 (GB/T 22239-2019 8.1.4.7–8.1.4.8): transport security, security headers, no-store and
request size limits (docs/security.md)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from django.urls import reverse
from rest_framework.test import APIClient

from consultations.models import Document
from telemed import crypto, signing, transport
from tests.api_cases import token_client
from tests.billing import priced, statement_with_lines

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
           if k not in {"TELEMED_ALLOW_HTTP", "DJANGO_DEBUG", "DATABASE_URL", "DJANGO_SECRET_KEY", "TELEMED_DATA_KEY_FILE",
                        "TELEMED_AUDIT_SIGNING_KEY_FILE"}}
    env.update(DJANGO_SETTINGS_MODULE="telemed.settings", TELEMED_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT),
               TELEMED_DATA_KEYS=crypto.new_key_line(),  # JL-A2: production needs a data key too
               TELEMED_AUDIT_SIGNING_KEYS=signing.new_key_line())  # JL-A1: and a checkpoint signing key
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


def test_jl_a1_the_portal_refuses_to_start_without_an_audit_signing_key(tmp_path):
    """Issue 11: checkpoints are signed with a key outside the database; production without one does not start."""
    code = "from django.conf import settings; settings.SECRET_KEY"
    env = _production_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(64), TELEMED_AUDIT_SIGNING_KEYS="")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,  # noqa: S603
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and "TELEMED_AUDIT_SIGNING_KEYS" in out.stderr and "JL-A1" in out.stderr
    assert not (tmp_path / "audit_signing_key").exists()


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


# --- Headers: Content-Security-Policy, Permissions-Policy, no-store --------------------------------


class _InlineCode(HTMLParser):
    """Every inline script (a <script> without src that is not a JSON data island), inline event
    handler (on…=) and style attribute of a page."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.found.append(f"<script> at line {self.getpos()[0]}")
        for name, _value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=> at line {self.getpos()[0]}")


def inline_code(page: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(page)
    return parser.found


def test_jl_a2_the_inline_code_finder_finds_what_the_policy_would_block():
    page = ('<script src="/static/a.js"></script><script type="application/json">{}</script>'
            '<script>x()</script><button onclick="x()">b</button><p style="color:red">p</p>')
    assert len(inline_code(page)) == 3


def test_jl_a2_the_policy_allows_nothing_inline_or_from_elsewhere(client, db):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    directives = dict((part.split(" ", 1) + [""])[:2] for part in policy.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'" and directives["form-action"] == "'self'"
    assert "unsafe" not in policy and "http" not in policy


def test_jl_a2_the_api_reference_alone_relaxes_styles_and_never_scripts(client, db):
    response = client.get(reverse("api-docs"))
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "worker-src blob:" in policy
    assert "script-src 'self';" in policy + ";"
    assert inline_code(response.content.decode()) == []


def test_jl_a2_the_api_reference_loads_nothing_from_outside(client, db):
    """Issue 14: Redoc's bundle fetches a logo from Redocly's CDN; the portal serves it pointing at its own."""
    page = client.get(reverse("api-docs")).content.decode()
    assert f'src="{reverse("api-docs-script")}"' in page
    assert "https://" not in page and "http://" not in page
    script = client.get(reverse("api-docs-script"))
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")
    body = script.content.decode()
    assert "cdn.redoc.ly" not in body and "Redoc" in body
    assert '"/static/telemed/favicon.svg"' in body or "/static/telemed/favicon" in body


def _pages(world) -> dict[str, str]:
    consultation = world.sent()
    return {
        "home": reverse("home"),
        "consultation list": reverse("consultations:list"),
        "consultation detail": reverse("consultations:detail", args=[consultation.pk]),
        "obligations": reverse("consultations:obligation-list"),
        "new request": reverse("consultations:create"),
        "facilities": reverse("facilities:facility-list"),
        "responsibility": reverse("audit:responsibility-list"),
        "seals": reverse("audit:seal-list"),
        "billing": reverse("billing:index"),
        "password": reverse("password_change"),
        "admin": "/admin/",
    }


def test_jl_a2_no_page_carries_inline_script_handlers_or_styles(client, world, settings):
    client.force_login(world.clinician)
    pages = {**_pages(world), "not found": "/no-such-page/"}
    seen = 0
    for name, path in pages.items():
        response = client.get(path, follow=True)
        assert "Content-Security-Policy" in response, name
        assert inline_code(response.content.decode()) == [], name
        seen += response.status_code == 200
    assert seen >= 8
    client.logout()
    assert inline_code(client.get(reverse("login")).content.decode()) == []
    response = client.get(reverse("consultations:list"), follow=True)
    assert inline_code(response.content.decode()) == []


def test_jl_a2_the_500_page_has_no_inline_style(rf):
    from telemed.views import server_error

    assert inline_code(server_error(rf.get("/")).content.decode()) == []


def test_jl_a2_permissions_policy_denies_camera_microphone_location_and_payment(client, db):
    response = client.get(reverse("login"))
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def _assert_no_store(response, what: str) -> None:
    assert "no-store" in response.get("Cache-Control", ""), what
    assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"], what
    assert response["Pragma"] == "no-cache", what


def test_jl_a2_jl_c8_pages_api_and_downloads_with_patient_data_are_never_stored(client, world):
    consultation = world.sent()
    document = consultation.documents.first()
    client.force_login(world.clinician)
    for name, path in _pages(world).items():
        _assert_no_store(client.get(path), name)
    download = client.get(reverse("consultations:document-download", args=[consultation.pk, document.pk]))
    assert download.status_code == 200
    _assert_no_store(download, "document download")
    consent = client.get(reverse("consultations:consent-download", args=[consultation.pk]))
    assert consent.status_code == 200
    _assert_no_store(consent, "consent download")

    api = token_client(world.clinician)
    for path in ("/api/v1/consultations/", f"/api/v1/consultations/{consultation.pk}/", "/api/v1/patients/",
                 f"/api/v1/consultations/{consultation.pk}/documents/{document.pk}/download/"):
        response = api.get(path)
        assert response.status_code == 200, path
        _assert_no_store(response, path)
    _assert_no_store(APIClient().get("/api/v1/consultations/"), "an API refusal")


def test_jl_a2_jl_c8_statement_exports_are_never_stored(client, world):
    billing = priced(world)
    statement = statement_with_lines(billing, charges=1, paid=1, reversed_=0)
    client.force_login(billing.inviting_finance)
    for fmt in ("csv", "xlsx", "pdf"):
        response = client.get(reverse("billing:statement-export", args=[statement.pk, fmt]))
        assert response.status_code == 200, fmt
        _assert_no_store(response, fmt)
    response = token_client(billing.inviting_finance).get(f"/api/v1/statements/{statement.pk}/export/?format=csv")
    assert response.status_code == 200
    _assert_no_store(response, "API export")


def test_jl_a2_static_files_keep_their_cache_life(client):
    response = client.get("/static/telemed/countdown.js")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- Request size limits: refused before the body is read (JL-A2, JL-C5) ---------------------------


class CountingStream:
    """A request body that counts what the server reads of it (``explode``: reading at all fails)."""

    def __init__(self, data: bytes = b"", *, explode: bool = False):
        self.data, self.position, self.explode = data, 0, explode

    def read(self, size: int = -1) -> bytes:
        if self.explode:
            raise AssertionError("the body was read")
        end = len(self.data) if size is None or size < 0 else self.position + size
        chunk = self.data[self.position:end]
        self.position += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


MEGABYTE = 1024 * 1024
DECLARED_300_MB = str(300 * MEGABYTE)


def test_jl_a2_a_declared_300_mb_api_upload_is_413_before_a_byte_is_read(world):
    consultation = world.draft()
    response = token_client(world.clinician).generic(
        "POST", f"/api/v1/consultations/{consultation.pk}/documents/", b"",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=DECLARED_300_MB, **{"wsgi.input": CountingStream(explode=True)},
    )
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "upload_too_large" and "JL-A2" in body["message"] and "50 MB" in body["message"]
    assert body["extra"] == {"max_bytes": 50 * MEGABYTE}
    _assert_no_store(response, "413")


def test_jl_a2_a_declared_oversize_json_body_is_413_body_too_large_before_it_is_read(world, settings):
    consultation = world.draft()
    response = token_client(world.clinician).generic(
        "POST", f"/api/v1/consultations/{consultation.pk}/consent/", b"", content_type="application/json",
        CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), **{"wsgi.input": CountingStream(explode=True)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large" and "JL-A2" in response.json()["message"]
    assert response.json()["extra"] == {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}


def test_jl_a2_a_declared_300_mb_page_upload_shows_the_chinese_error_page(client, world):
    consultation = world.draft()
    client.force_login(world.clinician)
    response = client.generic(
        "POST", reverse("consultations:document-upload", args=[consultation.pk]), b"",
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=DECLARED_300_MB, **{"wsgi.input": CountingStream(explode=True)},
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "内容过大" in page and "JL-A2" in page and "50 MB" in page
    assert inline_code(page) == []


def _multipart(file_bytes: int) -> tuple[bytes, str]:
    boundary = "JLboundary"
    data = encode_multipart(boundary, {"kind": "medical_record", "title": "病历",
                                       "file": SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * file_bytes)})
    return data, f"multipart/form-data; boundary={boundary}"


def test_jl_a2_an_api_upload_streamed_over_the_limit_stops_being_read(world, settings):
    """The declared length is within bounds (files + form allowance), the files are not: the handler
    stops the parser at the limit and the rest of the body is never read."""
    settings.TELEMED_MAX_UPLOAD_BYTES = 256 * 1024
    consultation = world.draft()
    data, content_type = _multipart(2 * MEGABYTE)
    stream = CountingStream(data)
    before = Document.objects.count()
    response = token_client(world.clinician).generic(
        "POST", f"/api/v1/consultations/{consultation.pk}/documents/", b"", content_type=content_type,
        CONTENT_LENGTH=str(len(data)), **{"wsgi.input": stream},
    )
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "upload_too_large" and response.json()["extra"] == {"max_bytes": 256 * 1024}
    assert stream.position < 512 * 1024 < len(data)
    assert Document.objects.count() == before


def test_jl_a2_a_page_upload_streamed_over_the_limit_stops_being_read(client, world, settings):
    settings.TELEMED_MAX_UPLOAD_BYTES = 256 * 1024
    consultation = world.draft()
    client.force_login(world.clinician)
    data, content_type = _multipart(2 * MEGABYTE)
    stream = CountingStream(data)
    before = Document.objects.count()
    response = client.generic(
        "POST", reverse("consultations:document-upload", args=[consultation.pk]), b"", CONTENT_TYPE=content_type,
        CONTENT_LENGTH=str(len(data)), **{"wsgi.input": stream},
    )
    assert response.status_code == 413
    assert "内容过大" in response.content.decode() and "0.25 MB" in response.content.decode()
    assert stream.position < 512 * 1024 < len(data)
    assert Document.objects.count() == before


def test_jl_a2_an_upload_within_the_limit_is_received(world, settings):
    settings.TELEMED_MAX_UPLOAD_BYTES = 256 * 1024
    consultation = world.draft()
    data, content_type = _multipart(200 * 1024)
    response = token_client(world.clinician).generic(
        "POST", f"/api/v1/consultations/{consultation.pk}/documents/", data, content_type=content_type,
    )
    assert response.status_code == 201, response.content


def test_jl_a2_with_https_only_plain_http_is_redirected_but_the_health_check_is_not(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = transport.HSTS_ONE_YEAR
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    assert client.get("/healthz").status_code == 200
    secure = client.get("/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
