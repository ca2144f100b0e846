"""Transport security and the secret key (JL-A2; GB/T 22239-2019 8.1.4.7–8.1.4.8).

With ``DEBUG`` off the portal is secure by default: cookies only over HTTPS, HSTS for a year
including subdomains, every plain-http request redirected to HTTPS, and no start without a real
secret key. One explicit opt-out, ``TELEMED_ALLOW_HTTP=1``, serves plain http for local use — the
demonstration (``manage.py rundemo``) and the test suite (``tests/settings.py``) set it; production
never does.

Pure functions on plain values: ``telemed.settings`` calls them with what it read from the
environment, and the tests call them directly (``tests/telemed/test_http_hardening.py``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

HSTS_ONE_YEAR = 365 * 24 * 3600
# The same thresholds as Django's own deployment check (security.W009).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
KNOWN_INSECURE_KEYS = frozenset({"insecure-dev-key-set-DJANGO_SECRET_KEY-in-production"})
LOCAL_KEY_FILE = "secret_key"


def parse_proxy_ssl_header(raw: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto=https`` → ``("HTTP_X_FORWARDED_PROTO", "https")``; empty → None.

    Name the header only when the TLS proxy in front of the portal sets it and strips what clients
    send: whoever can set it can make a plain-http request look secure.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    name, sep, value = raw.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ImproperlyConfigured(
            f"TELEMED_PROXY_SSL_HEADER={raw!r}: expected Header-Name=value, e.g. X-Forwarded-Proto=https"
        )
    return "HTTP_" + name.upper().replace("-", "_"), value


def transport_settings(
    *, debug: bool, allow_http: bool, proxy_ssl_header: str = "", hsts_seconds: int = HSTS_ONE_YEAR,
    hsts_preload: bool = True,
) -> dict:
    """The Django transport settings: secure unless DEBUG is on or plain http is allowed explicitly."""
    secure = not debug and not allow_http
    return {
        "SESSION_COOKIE_SECURE": secure,
        "CSRF_COOKIE_SECURE": secure,
        "SECURE_SSL_REDIRECT": secure,
        "SECURE_HSTS_SECONDS": hsts_seconds if secure else 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": secure,
        "SECURE_HSTS_PRELOAD": secure and hsts_preload,
        "SECURE_PROXY_SSL_HEADER": parse_proxy_ssl_header(proxy_ssl_header),
    }


def weak_secret_key_reason(key: str) -> str | None:
    """Why ``key`` is not a real secret key, or None when it is one."""
    if not key:
        return "it is not set"
    if key in KNOWN_INSECURE_KEYS or key.startswith("django-insecure-"):
        return "it is a published development key"
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"it is shorter than {SECRET_KEY_MIN_LENGTH} characters or too repetitive"
    return None


def local_secret_key(var_dir: Path) -> str:
    """A random key for this checkout's local use, created once under the var directory (never committed).

    Written to a temporary file and linked into place, so processes starting together (gunicorn's
    workers) all read the same complete key.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / LOCAL_KEY_FILE
    if not path.exists():
        scratch = var_dir / f".{LOCAL_KEY_FILE}.{os.getpid()}"
        scratch.write_text(secrets.token_urlsafe(64))
        scratch.chmod(0o600)
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    return path.read_text().strip()


def secret_key(raw: str, *, debug: bool, allow_http: bool, var_dir: Path) -> str:
    """``DJANGO_SECRET_KEY``, refused when DEBUG is off and it is missing, published or weak.

    Local use (DEBUG on, or TELEMED_ALLOW_HTTP) without a key gets a random per-checkout key.
    """
    raw = (raw or "").strip()
    if not raw and (debug or allow_http):
        return local_secret_key(var_dir)
    reason = weak_secret_key_reason(raw)
    if reason and not debug:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY: {reason}. JL-A2: with DEBUG off the portal needs a real secret key "
            f"(at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'). "
            "For plain-http local use only, set TELEMED_ALLOW_HTTP=1."
        )
    return raw
