"""Settings for the Jilin telemedicine portal — one file, every value from the environment.

With nothing set, the portal runs on the embedded defaults: SQLite under ``var/`` and kombu's
filesystem broker under ``var/celery/``. A malformed value stops start-up with a clear message
rather than being guessed around.
"""

import datetime as dt
import json
import os
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from telemed import crypto, signing, transport
from telemed.oauth.rules import SCOPES as OAUTH_SCOPES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TELEMED_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value}: must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# JL-A2: the one opt-out from HTTPS-only, for plain http on this machine. `manage.py rundemo` and the
# test suite (tests/settings.py) set it; production never does (telemed/transport.py).
TELEMED_ALLOW_HTTP = env_bool("TELEMED_ALLOW_HTTP", False)
# Refused at start-up when DEBUG is off and it is missing, published or weak; local use without one
# gets a random per-checkout key under the var directory.
SECRET_KEY = transport.secret_key(
    os.environ.get("DJANGO_SECRET_KEY", ""), debug=DEBUG, allow_http=TELEMED_ALLOW_HTTP, var_dir=VAR_DIR
)
# JL-A2 (GB/T 22239-2019 8.1.4.8, GB/T 39786-2021): the master keys that encrypt identity and phone numbers
# at rest, the current one first — from the environment or a key file, never the database; refused at
# start-up when DEBUG is off and neither is set; local use gets a per-checkout key (telemed/crypto.py).
TELEMED_DATA_KEYS = crypto.data_keys(
    os.environ.get("TELEMED_DATA_KEYS", ""), os.environ.get("TELEMED_DATA_KEY_FILE", ""),
    debug=DEBUG, allow_http=TELEMED_ALLOW_HTTP, var_dir=VAR_DIR,
)
# aes-256-gcm (HMAC-SHA256 blind index) or sm4-gcm (HMAC-SM3) for deployments assessed under 密评.
TELEMED_DATA_CIPHER = crypto.data_cipher(os.environ.get("TELEMED_DATA_CIPHER", ""))
# JL-A1 (issues 11, 13): the key signing the audit log's checkpoints, never in the database (telemed.signing).
TELEMED_AUDIT_SIGNING_KEYS = signing.signing_keys(
    os.environ.get("TELEMED_AUDIT_SIGNING_KEYS", ""), os.environ.get("TELEMED_AUDIT_SIGNING_KEY_FILE", ""),
    debug=DEBUG, allow_http=TELEMED_ALLOW_HTTP, var_dir=VAR_DIR,
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# A stale form gets the portal's own page, which keeps what was typed (telemed.views.csrf_failure).
CSRF_FAILURE_VIEW = "telemed.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "oauth2_provider",  # issue 14: partner applications (OAuth2 client credentials, telemed.oauth)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc served from our own static files, never a CDN
    "csp",  # Content-Security-Policy (JL-A2), its template tags and system checks
    "guardian",
    "telemed",
    "audit",
    "facilities",
    "consultations",
    "billing",
    "notifications",  # issue 12: e-mail and SMS deliveries, per-user preferences
    "django_otp",  # JL-A2 two-factor sign-in (facilities.twofactor)
    "django_otp.plugins.otp_totp",  # TOTP devices (RFC 6238)
    "django_otp.plugins.otp_static",  # one-time recovery codes
    "axes",  # JL-A2 lockout; facilities.signin writes the sign-in audit events (JL-A1)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "telemed.context.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "facilities.otp_middleware.OTPMiddleware",  # JL-A2: request.user.is_verified() (django-otp's, device read compiled once)
    "django.contrib.messages.middleware.MessageMiddleware",
    "telemed.sessions.SessionTimeoutMiddleware",  # JL-A2: idle and absolute session ends
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "telemed.context.RequestContextMiddleware",
    "telemed.undecryptable.UndecryptableDataMiddleware",  # JL-A2: undecryptable data is a clear 409 on record, not a 500
    "telemed.middleware.ResponseHeadersMiddleware",
    "telemed.middleware.RequestInputMiddleware",
    "telemed.middleware.RequestSizeMiddleware",
    "telemed.idempotency.IdempotencyKeyMiddleware",  # API POSTs with Idempotency-Key: answered once (after the size check)
    "facilities.twofactor.TwoFactorMiddleware",  # JL-A2: the second step before anything else
    "facilities.signin.PasswordAgeMiddleware",  # JL-A2: privileged roles change an old password first
    "axes.middleware.AxesMiddleware",  # JL-A2: last, turns a locked-out login into the lockout answer
]

ROOT_URLCONF = "telemed.urls"
WSGI_APPLICATION = "telemed.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "telemed.navigation.navigation",
                "telemed.sessions.session_policy",
            ],
        },
    },
]

# --- Database: PostgreSQL when DATABASE_URL is set, SQLite under var/ otherwise -------------
_database_url = os.environ.get("DATABASE_URL", "").strip()
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except Exception as exc:  # dj_database_url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    if DATABASES["default"]["ENGINE"] not in {
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    }:
        raise ImproperlyConfigured("DATABASE_URL must name PostgreSQL (postgres://…) or SQLite (sqlite:///…)")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "telemed.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
# A pooled connection the server dropped is checked and replaced before the request uses it,
# rather than failing that request with a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Issue 11 (docs/scaling.md): a PostgreSQL streaming replica for the dashboards' reads. Only the metric
# rollups, and only on the dashboard routes, are read from it (telemed/dbrouter.py); unset, everything
# reads the primary.
_replica_url = os.environ.get("DATABASE_REPLICA_URL", "").strip()
TELEMED_REPLICA_ALIAS = None
if _replica_url:
    try:
        DATABASES["replica"] = dj_database_url.parse(_replica_url, conn_max_age=60)
    except Exception as exc:  # dj_database_url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a valid database URL: {exc}") from exc
    if DATABASES["replica"]["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must name the same kind of database as DATABASE_URL")
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    TELEMED_REPLICA_ALIAS = "replica"
DATABASE_ROUTERS = ["telemed.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# JL-A2 (GB/T 22239-2019 8.1.4.1 b, c): axes refuses a locked-out account or address before any
# password is checked; it needs the request, so every ``authenticate`` call passes one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    "facilities.admins.AdminRoleBackend",  # JL-A2 三员分立: the three administrators' permissions
]
# JL-A2: Argon2 first; a PBKDF2 hash is upgraded the next time its user logs in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# JL-A2 (8.1.4.1 a): password complexity and reuse.
TELEMED_PASSWORD_MIN_LENGTH = env_int("TELEMED_PASSWORD_MIN_LENGTH", 10, minimum=8)
TELEMED_PASSWORD_HISTORY = env_int("TELEMED_PASSWORD_HISTORY", 5, minimum=1)
# JL-A2: the three administrators (三员), regulators and facility administrators change their password after this many days.
TELEMED_PASSWORD_MAX_AGE_DAYS = env_int("TELEMED_PASSWORD_MAX_AGE_DAYS", 90, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "facilities.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": TELEMED_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "facilities.passwords.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "facilities.passwords.UserAttributeSimilarityValidator"},
    {"NAME": "facilities.passwords.CommonPasswordValidator"},
    {"NAME": "facilities.passwords.NumericPasswordValidator"},
    {"NAME": "facilities.passwords.PasswordHistoryValidator", "OPTIONS": {"keep": TELEMED_PASSWORD_HISTORY}},
]
# JL-A2 (8.1.4.1 b): lockout after TELEMED_LOCKOUT_FAILURES failed logins within
# TELEMED_LOCKOUT_WINDOW_MINUTES, counted per account and, separately, per client address; the lock
# lasts that window from the failure that set it, or until a security administrator releases it.
TELEMED_LOCKOUT_FAILURES = env_int("TELEMED_LOCKOUT_FAILURES", 5, minimum=1)
TELEMED_LOCKOUT_WINDOW_MINUTES = env_int("TELEMED_LOCKOUT_WINDOW_MINUTES", 30, minimum=1)
AXES_FAILURE_LIMIT = TELEMED_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = dt.timedelta(minutes=TELEMED_LOCKOUT_WINDOW_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per account, per address
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lock ends when its window does
AXES_CLIENT_IP_CALLABLE = "telemed.context.client_ip"  # TELEMED_TRUSTED_PROXIES, never a bare X-Forwarded-For
AXES_LOCKOUT_CALLABLE = "facilities.signin.lockout_response"
AXES_USERNAME_CALLABLE = "facilities.signin.attempted_username"
# axes keeps the failed request's form in its table: every password field is masked there, the
# password change form's three included (the old password typed wrong may be nearly right).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "old_password", "new_password1", "new_password2", "csrfmiddlewaretoken", "otp_token"]
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # logins are in the audit log (auth.login), which cannot be altered
AXES_ENABLE_ADMIN = False  # lockouts are released on the security administrator's page, with a reason

# Two-factor sign-in (JL-A2, GB/T 22239-2019 8.1.4.1 d): the roles that must pass a TOTP step after
# the password (comma-separated: regulator and the staff roles of facilities.choices.StaffRole).
# The three administrators (system_admin, security_admin, audit_admin; 三员分立) always must: they
# cannot be left out here. Other staff may enrol on their own. facilities/twofactor.py.
TELEMED_2FA_ADMIN_ROLES = ("system_admin", "security_admin", "audit_admin")
TELEMED_2FA_ROLES_KNOWN = (*TELEMED_2FA_ADMIN_ROLES, "regulator", "facility_admin", "clinician", "coordinator", "finance", "partner_system")
TELEMED_2FA_REQUIRED_ROLES = tuple(env_list("TELEMED_2FA_REQUIRED_ROLES", ["regulator", "facility_admin"]))
_unknown_roles = sorted(set(TELEMED_2FA_REQUIRED_ROLES) - set(TELEMED_2FA_ROLES_KNOWN))
if _unknown_roles:
    raise ImproperlyConfigured(
        f"TELEMED_2FA_REQUIRED_ROLES: unknown role(s) {_unknown_roles}; known: {', '.join(TELEMED_2FA_ROLES_KNOWN)}"
    )
OTP_TOTP_ISSUER = "吉林省远程医疗服务平台"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous object permissions

# --- Language and time (STYLE 8, 9) --------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even when serving from the apps
STATICFILES_DIRS = [BASE_DIR / "telemed" / "static"]
# Issue 11 (docs/scaling.md): web processes share nothing but the database and this cache. With more
# than one web process, point it at Redis (redis://…) so that the public pages' rate limits
# (telemed/ratelimit.py) count once per address, not once per process; unset, each process counts alone.
_cache_url = os.environ.get("TELEMED_CACHE_URL", "").strip()
if _cache_url:
    if not _cache_url.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured("TELEMED_CACHE_URL must name Redis (redis://… or rediss://…)")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url,
                          "KEY_PREFIX": "telemed"}}

MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
# Uploaded patient material is never served from a public URL; views check access and stream it.
STORAGES = {
    "default": {
        # JL-A2 (8.1.4.8): uploads are stored encrypted under the data keys (telemed/storage.py).
        "BACKEND": os.environ.get("TELEMED_FILE_STORAGE", "telemed.storage.EncryptedFileSystemStorage"),
    },
    # Issue 11 (docs/scaling.md): TELEMED_FILE_STORAGE=telemed.s3storage.EncryptedS3Storage keeps the same
    # encrypted files on S3-compatible object storage (MinIO, Ceph, a cloud's OSS), named by TELEMED_S3_*.
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("TELEMED_MANIFEST_STATIC", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}
if STORAGES["default"]["BACKEND"] == "telemed.s3storage.EncryptedS3Storage":
    STORAGES["default"]["OPTIONS"] = {
        "bucket_name": os.environ.get("TELEMED_S3_BUCKET", "").strip() or None,
        "endpoint_url": os.environ.get("TELEMED_S3_ENDPOINT_URL", "").strip() or None,
        "region_name": os.environ.get("TELEMED_S3_REGION", "").strip() or None,
        "location": os.environ.get("TELEMED_S3_PREFIX", "documents").strip(),
        # Credentials: TELEMED_S3_ACCESS_KEY/SECRET_KEY, else boto3's own chain (instance role, AWS_* env).
        "access_key": os.environ.get("TELEMED_S3_ACCESS_KEY", "").strip() or None,
        "secret_key": os.environ.get("TELEMED_S3_SECRET_KEY", "").strip() or None,
        "file_overwrite": False,  # a second upload of 报告.pdf gets a new name, as on disk
        "default_acl": None,
        "querystring_auth": True,
    }
    if not STORAGES["default"]["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("TELEMED_S3_BUCKET must name the bucket when the files are kept on S3")

# --- Security headers ------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read with a statement compiled once (issue 11).
SESSION_ENGINE = "telemed.session_store"
# JL-A2 (GB/T 22239 8.1.4.1 d): a session ends after 30 idle minutes or 12 hours after signing in
# (telemed.sessions); the cookie itself lives as long as the absolute limit.
TELEMED_SESSION_IDLE_MINUTES = env_int("TELEMED_SESSION_IDLE_MINUTES", 30, minimum=1)
TELEMED_SESSION_MAX_HOURS = env_int("TELEMED_SESSION_MAX_HOURS", 12, minimum=1)
TELEMED_SESSION_WARN_MINUTES = env_int("TELEMED_SESSION_WARN_MINUTES", 5, minimum=1)
# JL-A2: a privileged user signing in again ends their earlier session (telemed.sessions).
TELEMED_SINGLE_SESSION_PRIVILEGED = env_bool("TELEMED_SINGLE_SESSION_PRIVILEGED", True)
SESSION_COOKIE_AGE = TELEMED_SESSION_MAX_HOURS * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# JL-A2 (GB/T 22239-2019 8.1.4.7): HTTPS only with DEBUG off, unless TELEMED_ALLOW_HTTP. Production sits
# behind a TLS proxy; name the header it sets (TELEMED_PROXY_SSL_HEADER=X-Forwarded-Proto=https) so that
# requests it forwarded count as secure.
_transport = transport.transport_settings(
    debug=DEBUG,
    allow_http=TELEMED_ALLOW_HTTP,
    proxy_ssl_header=os.environ.get("TELEMED_PROXY_SSL_HEADER", ""),
    hsts_seconds=env_int("TELEMED_HSTS_SECONDS", transport.HSTS_ONE_YEAR, minimum=0),
    hsts_preload=env_bool("TELEMED_HSTS_PRELOAD", True),
)
SESSION_COOKIE_SECURE = _transport["SESSION_COOKIE_SECURE"]
CSRF_COOKIE_SECURE = _transport["CSRF_COOKIE_SECURE"]
SECURE_SSL_REDIRECT = _transport["SECURE_SSL_REDIRECT"]
SECURE_HSTS_SECONDS = _transport["SECURE_HSTS_SECONDS"]
SECURE_HSTS_INCLUDE_SUBDOMAINS = _transport["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
SECURE_HSTS_PRELOAD = _transport["SECURE_HSTS_PRELOAD"]
SECURE_PROXY_SSL_HEADER = _transport["SECURE_PROXY_SSL_HEADER"]
# The container health check asks the web server itself over plain http; it carries no data.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# JL-A2: no inline script, no inline style, nothing from another origin, never framed. Scripts and
# styles are static files (telemed/static/telemed/); data a script needs comes from data-* attributes
# or <script type="application/json"> islands, which are data, not scripts. The API reference page
# (Redoc) adds what Redoc needs for itself only (telemed.views.ApiDocsView).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# JL-A2: browser features the portal never uses are switched off for it and anything it embeds.
# Video consultations open the external video link in a new tab, so the portal itself needs no
# camera or microphone (telemed.middleware.ResponseHeadersMiddleware).
TELEMED_PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=(), serial=(), hid=(), "
    "screen-wake-lock=(), xr-spatial-tracking=()"
)


def env_networks(name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, normalised (``10.0.0.1`` → ``10.0.0.1/32``)."""
    import ipaddress

    networks = []
    for item in env_list(name, []):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


# JL-A1: the audit log's network address. X-Forwarded-For is believed only when the direct peer is
# one of these reverse proxies; then the rightmost address not in this set is the client's.
TELEMED_TRUSTED_PROXIES = env_networks("TELEMED_TRUSTED_PROXIES")

# --- REST framework (STYLE 4: one error contract) -------------------------------------------
# --- Partner applications (issue 14, telemed/oauth, docs/architecture.md "Partner applications") ---
# Lifetime of an access token issued to a partner application (seconds).
TELEMED_OAUTH_TOKEN_SECONDS = env_int("TELEMED_OAUTH_TOKEN_SECONDS", 3600, minimum=60)
# After a secret is rotated, how long the old one still obtains tokens (hours; 0 = not at all).
TELEMED_OAUTH_ROTATION_OVERLAP_HOURS = env_int("TELEMED_OAUTH_ROTATION_OVERLAP_HOURS", 24, minimum=0)
# The longest overlap an administrator may choose when rotating (hours).
TELEMED_OAUTH_ROTATION_OVERLAP_MAX_HOURS = env_int("TELEMED_OAUTH_ROTATION_OVERLAP_MAX_HOURS", 168, minimum=0)
# Requests per minute per partner application unless its registration sets its own rate.
TELEMED_OAUTH_RATE_PER_MINUTE = env_int("TELEMED_OAUTH_RATE_PER_MINUTE", 600, minimum=1)
# Deprecation period of the per-user DRF tokens (``Authorization: Token …``, POST /api/v1/auth/token/).
# Off: those tokens are refused and the token door answers 410 ``token_retired``.
TELEMED_API_LEGACY_TOKENS = env_bool("TELEMED_API_LEGACY_TOKENS", True)
# The toolkit's own tables, named explicitly (migrations refer to the swappable setting).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": TELEMED_OAUTH_TOKEN_SECONDS,
    "OAUTH2_VALIDATOR_CLASS": "telemed.oauth.auth.PartnerClientValidator",
    "SCOPES_BACKEND_CLASS": "telemed.oauth.auth.PartnerClientScopes",
    # RFC 9700 (OAuth 2.0 Security BCP), the toolkit's 4.0 defaults today: tokens kept only as their
    # SHA-256 checksum, never accepted in a query string; no implicit or password grant, no "plain" PKCE,
    # https redirect URIs only (we issue client credentials alone, but nothing else may slip in).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}

REST_FRAMEWORK = {
    # Issue 14: partner applications sign in with OAuth2 client credentials (Bearer tokens whose scopes
    # are checked on every route, telemed.oauth.drf); the old per-user DRF tokens stay only while
    # TELEMED_API_LEGACY_TOKENS is on (the deprecation period, docs/architecture.md "Partner applications").
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "telemed.oauth.drf.PartnerClientAuthentication",
        "telemed.oauth.drf.LegacyTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Issue 14: a rate per partner application (429 ``rate_limited`` with Retry-After).
    "DEFAULT_THROTTLE_CLASSES": ["telemed.oauth.drf.PartnerClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"partner_client": f"{TELEMED_OAUTH_RATE_PER_MINUTE}/min"},
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "telemed.filters.FilterBackend",  # django-filter, numbers bounded (issue 14: never a 500)
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "telemed.pagination.PageNumberPagination",  # issue 14: ?page= empty is 400
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "telemed.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "telemed.parsers.JSONParser",  # nesting depth limited (TELEMED_JSON_MAX_DEPTH), errors as {code, message, extra}
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# The deepest nesting of arrays and objects a JSON request body may have. Our bodies are at most a
# few levels deep; a limit far below Python's recursion limit refuses a "[[[[…" body as
# ``json_too_deep`` (400) instead of a RecursionError. The body's size is limited by
# DATA_UPLOAD_MAX_MEMORY_SIZE (below), refused as ``body_too_large`` (413).
TELEMED_JSON_MAX_DEPTH = env_int("TELEMED_JSON_MAX_DEPTH", 32, minimum=2)
# How long a partner's Idempotency-Key keeps its answer (telemed.idempotency).
TELEMED_IDEMPOTENCY_HOURS = env_int("TELEMED_IDEMPOTENCY_HOURS", 24, minimum=1)
# JL-A2, JL-C5: request size limits, enforced before the body is read. A body whose declared length
# is over the limit is refused by telemed.middleware.RequestSizeMiddleware (413 ``body_too_large`` /
# ``upload_too_large``) without reading it; the files of a multipart upload are counted as they stream
# in and the upload stops at TELEMED_MAX_UPLOAD_BYTES (telemed.files.UploadLimitHandler, first handler).
# Every other body (JSON, form fields) is limited by DATA_UPLOAD_MAX_MEMORY_SIZE.
TELEMED_MAX_UPLOAD_BYTES = env_int("TELEMED_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TELEMED_MAX_BODY_BYTES", 2_621_440, minimum=1024)
FILE_UPLOAD_HANDLERS = [
    "telemed.files.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
SPECTACULAR_SETTINGS = {
    "TITLE": "吉林省远程医疗服务平台 API",
    "DESCRIPTION": "Partner API for hospital information systems. Errors: {code, message, extra}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Issue 14: a text field that may not be blank says so (minLength 1), so the schema is what is accepted.
    "ENFORCE_NON_BLANK_FIELDS": True,
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Issue 14: the OAuth2 security scheme (client credentials only) and its scopes (telemed.oauth.rules).
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": "/api/v1/oauth/token/",
    "OAUTH2_SCOPES": OAUTH_SCOPES,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "telemed.idempotency.document_idempotency_key",
        "telemed.openapi.document_errors",  # issue 14: every operation's error answers, with examples
        "telemed.openapi_examples.document_success_examples",  # issue 14: every success answer, with an example
    ],
    "ENUM_NAME_OVERRIDES": {
        "AccreditationStatusEnum": "facilities.choices.AccreditationStatus",
        "AgreementStatusEnum": "facilities.choices.AgreementStatus",
        "PracticeScopeEnum": "facilities.choices.PracticeScope",
        "FacilityKindEnum": "facilities.choices.FacilityKind",
        "TitleEnum": "facilities.choices.Title",
        "ConsultationStateEnum": "consultations.choices.ConsultationState",
        "ObligationStateEnum": "consultations.choices.ObligationState",
        "DocumentKindEnum": "consultations.choices.DocumentKind",
        "OpinionKindEnum": "consultations.choices.OpinionKind",
        # Named once each, so that `check --deploy` (which generates the schema) shows no warning.
        "FacilityLevelEnum": "facilities.choices.FacilityLevel",
        "AccountKindEnum": "billing.choices.AccountKind",
        "StatementStateEnum": "billing.choices.StatementState",
        "ReferralStateEnum": "consultations.choices.ReferralState",
        "ReferralDirectionEnum": "consultations.choices.ReferralDirection",
        "ReferralKindEnum": "consultations.choices.ReferralKind",
        "PayoutStateEnum": "billing.choices.PayoutState",
        "PayoutRoleEnum": "billing.choices.PayoutRole",
        "PayoutLineKindEnum": "billing.choices.PayoutLineKind",
        "PartnerScopeEnum": "telemed.oauth.rules.SCOPE_CHOICES",  # issue 14
        "AssetKindEnum": "facilities.choices.AssetKind",  # JL-O7: the equipment register
        "AssetStatusEnum": "facilities.choices.AssetStatus",
        "MaintenanceKindEnum": "facilities.choices.MaintenanceKind",
        "ComplainantRelationEnum": "audit.choices.ComplainantRelation",  # JL-O6
        "ComplaintStepKindEnum": "audit.choices.ComplaintStepKind",
        "ComplaintStateEnum": "audit.choices.ComplaintState",
        "ComplaintChannelEnum": "audit.choices.ComplaintChannel",
        "ConsentRelationEnum": "consultations.choices.ConsentRelation",  # beside ComplainantRelation
        "QCPeriodEnum": "audit.choices.QCPeriod",  # JL-O2: quality-control plans
        "EvaluationGradeEnum": "facilities.choices.EvaluationGrade",  # JL-O3: the yearly evaluation
    },
}

# --- Celery: Redis when CELERY_BROKER_URL is set, the filesystem broker otherwise -----------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip()
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if not CELERY_BROKER_URL:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's exchange tables; "./control" by default
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "memory://", "filesystem://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be redis://…, rediss://…, memory:// or filesystem://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Results are not needed by the portal (tasks write their outcome to the database and the audit
# log); a result backend can be named for operators' tooling and the worker tests.
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "").strip() or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Issue 11 (docs/scaling.md): one queue per kind of work, so that a slow export or a long chain
# verification never delays a deadline sweep. One worker may consume all of them (rundemo, a small
# province); a large one runs a worker per queue. Every task is routed here by name, and a test
# fails for a task that is not (tests/telemed/test_scaling.py).
TELEMED_TASK_QUEUES: dict[str, tuple[str, ...]] = {
    # JL-C2/JL-C4 deadlines: the sweeps must run on time whatever else is queued.
    "deadlines": ("consultations.obligation_sweep", "consultations.response_reminder_sweep"),
    # JL-A1: the audit log's own upkeep (daily signed checkpoint, QC grants running out).
    # The sequencer chains committed events every second (p99 delay ≤ 5 s, docs/architecture.md).
    "audit": ("audit.sequence_chain", "audit.checkpoint_daily", "audit.qc_access_expire"),
    "webhooks": ("telemed.webhook_deliver", "telemed.webhook_sweep"),
    "notifications": ("notifications.deliver", "notifications.sweep"),
    "metrics": ("facilities.metrics_catch_up", "facilities.metrics_refresh"),
    # Long jobs a person asked for or a month closed: verifying the whole chain, monthly drafting.
    "exports": ("audit.verify_chain", "billing.draft_statements", "billing.draft_payouts"),
    "default": ("telemed.idempotency_purge",),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {task: {"queue": queue} for queue, tasks in TELEMED_TASK_QUEUES.items() for task in tasks}

# --- Domain settings (documented in docs/architecture.md) -----------------------------------
# JL-C2 (art. 22 (1)): hours after admission before "more than 3 days without a diagnosis" is
# reached; the 24-hour upload window then runs on top of it.
TELEMED_UNDIAGNOSED_AFTER_HOURS = env_int("TELEMED_UNDIAGNOSED_AFTER_HOURS", 72, minimum=1)
# JL-P5 (art. 14.5): the scopes of practice (codes of facilities.choices.PracticeScope) of which an
# expert must hold one to read a remote ECG (影像类别 心电图). The rulebook leaves this open: ECG is
# listed under 医学影像 (art. 3), yet many provinces let 内科 (cardiology) physicians read ECGs. The
# province chose both, imaging and internal; set e.g. TELEMED_ECG_SCOPES=imaging to narrow it.
TELEMED_ECG_SCOPES = env_list("TELEMED_ECG_SCOPES", ["imaging", "internal"])

RESPONSE_TARGET_DEFAULT = "emergency:30,urgent:120,routine:1440"


def env_response_targets(name: str, default: str) -> dict[str, int]:
    """JL-C4 "及时": minutes per urgency (急诊/加急/普通) within which the invited side should answer a
    sent request, as ``emergency:30,urgent:120,routine:1440``; each urgency exactly once, each a
    whole number of minutes of at least 1. Anything else stops the start naming the variable."""
    raw = os.environ.get(name) or default
    expected = ("emergency", "urgent", "routine")
    targets: dict[str, int] = {}
    for item in raw.split(","):
        key, sep, minutes = item.strip().partition(":")
        key, minutes = key.strip(), minutes.strip()
        if not sep or key not in expected or key in targets or not minutes.isdigit() or int(minutes) < 1:
            raise ImproperlyConfigured(
                f"{name}={raw!r}: expected each of emergency, urgent, routine once with whole minutes (>= 1), "
                f"e.g. {default}"
            )
        targets[key] = int(minutes)
    if set(targets) != set(expected):
        raise ImproperlyConfigured(f"{name}={raw!r}: missing {', '.join(k for k in expected if k not in targets)}")
    return targets


# JL-C4 ("promptly", 及时): the invited side's response clock — minutes per urgency after which a sent
# request still awaiting acceptance is overdue (a red badge; one reminder to the invited coordinators).
TELEMED_RESPONSE_TARGET_MINUTES = env_response_targets("TELEMED_RESPONSE_TARGET_MINUTES", RESPONSE_TARGET_DEFAULT)

# Without a mail server configured, mail is written to files under var/mail/ (one per message), so
# reminders are kept and inspectable but nobody's terminal is flooded; set DJANGO_EMAIL_BACKEND and
# the EMAIL_* variables for real delivery.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "telemed@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; the audit log already has them (auth.login).
    "loggers": {"axes": {"level": os.environ.get("TELEMED_AXES_LOG_LEVEL", "WARNING")}},
}
# JL-C2 reminders: hours before the upload deadline at which the inviting coordinator and
# clinician are reminded (in-app and by e-mail).
TELEMED_REMINDER_HOURS = [int(h) for h in env_list("TELEMED_REMINDER_HOURS", ["12", "4", "1"]) if h.isdigit()]
if not TELEMED_REMINDER_HOURS or len(TELEMED_REMINDER_HOURS) != len(env_list("TELEMED_REMINDER_HOURS", ["12", "4", "1"])):
    raise ImproperlyConfigured("TELEMED_REMINDER_HOURS must be a comma-separated list of whole hours, e.g. 12,4,1")
# How often Celery beat runs the JL-C2 obligation sweep (seconds).
TELEMED_SWEEP_SECONDS = env_int("TELEMED_SWEEP_SECONDS", 60, minimum=5)
# JL-C2 (issue 11): missed deadlines the sweep records per transaction (one claim, bulk writes per batch).
TELEMED_SWEEP_BATCH_SIZE = env_int("TELEMED_SWEEP_BATCH_SIZE", 500, minimum=1)
# The dashboard's facts (docs/metrics.md): how often beat catches them up (seconds), and how many
# Beijing days before today each catch-up rebuilds (late events land within them).
TELEMED_METRICS_CATCHUP_SECONDS = env_int("TELEMED_METRICS_CATCHUP_SECONDS", 300, minimum=30)
TELEMED_METRICS_CATCHUP_DAYS = env_int("TELEMED_METRICS_CATCHUP_DAYS", 3, minimum=2)

# --- Quality control (JL-O2, art. 26, 27; docs/architecture.md "Quality control") ----------------
# Days a draw's reviewers may read their sampled cases, counted from the draw; days a facility has
# to answer a review's feedback with its corrective action, counted from the review's submission.
TELEMED_QC_REVIEW_DAYS = env_int("TELEMED_QC_REVIEW_DAYS", 30, minimum=1)
TELEMED_QC_ANSWER_DAYS = env_int("TELEMED_QC_ANSWER_DAYS", 15, minimum=1)
# JL-A1: a chain verification whose heartbeat is older than this is stale (its worker died or its
# message was lost): a redelivered task may take it over, and a user may start a new one.
TELEMED_VERIFY_TIMEOUT_SECONDS = env_int("TELEMED_VERIFY_TIMEOUT_SECONDS", 900, minimum=60)
# JL-A1, issue 11: who chains appended audit events (docs/architecture.md "The audit log").
#   worker    — writers insert unsequenced rows without any lock; the sequencer (Celery beat every
#               TELEMED_AUDIT_SEQUENCER_SECONDS, and nudged after each commit) chains them in batches.
#               The default on PostgreSQL.
#   on_commit — the writer's process runs the sequencer right after its transaction commits. The
#               default on SQLite (one writer at a time, in-process Celery).
#   inline    — the sequencer runs inside the writer's transaction (the event has its sequence and
#               hash at once, as before issue 11): the test suite, whose transactions never commit.
TELEMED_AUDIT_SEQUENCER_MODES = ("worker", "on_commit", "inline")
TELEMED_AUDIT_SEQUENCER = os.environ.get("TELEMED_AUDIT_SEQUENCER", "").strip() or (
    "worker" if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else "on_commit")
if TELEMED_AUDIT_SEQUENCER not in TELEMED_AUDIT_SEQUENCER_MODES:
    raise ImproperlyConfigured(f"TELEMED_AUDIT_SEQUENCER={TELEMED_AUDIT_SEQUENCER!r}: expected one of "
                               f"{', '.join(TELEMED_AUDIT_SEQUENCER_MODES)}")
TELEMED_AUDIT_SEQUENCER_SECONDS = env_int("TELEMED_AUDIT_SEQUENCER_SECONDS", 1, minimum=1)
TELEMED_AUDIT_SEQUENCER_BATCH = env_int("TELEMED_AUDIT_SEQUENCER_BATCH", 1000, minimum=1)
# Serve static files straight from the apps unless collectstatic has built the manifest (compose).
WHITENOISE_USE_FINDERS = not env_bool("TELEMED_MANIFEST_STATIC", False)
# Webhooks (issue 14, docs/architecture.md "Webhooks"): the receiver's time limit per POST
# (seconds), the attempts before a delivery is abandoned, the back-off (base × 2^(n-1), capped),
# how many deliveries abandoned in a row disable a subscription, how often beat sweeps for due
# deliveries, and — for tests and local receivers only — whether loopback/private targets are let through.
TELEMED_WEBHOOK_TIMEOUT_SECONDS = env_int("TELEMED_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
TELEMED_WEBHOOK_MAX_ATTEMPTS = env_int("TELEMED_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
TELEMED_WEBHOOK_BACKOFF_SECONDS = env_int("TELEMED_WEBHOOK_BACKOFF_SECONDS", 30, minimum=1)
TELEMED_WEBHOOK_BACKOFF_CAP_SECONDS = env_int("TELEMED_WEBHOOK_BACKOFF_CAP_SECONDS", 6 * 3600, minimum=1)
TELEMED_WEBHOOK_DISABLE_AFTER = env_int("TELEMED_WEBHOOK_DISABLE_AFTER", 5, minimum=1)
TELEMED_WEBHOOK_SWEEP_SECONDS = env_int("TELEMED_WEBHOOK_SWEEP_SECONDS", 30, minimum=5)
TELEMED_WEBHOOK_ALLOW_PRIVATE = env_bool("TELEMED_WEBHOOK_ALLOW_PRIVATE", False)
# Notifications (issue 12, docs/architecture.md "Notifications"): the SMS backend (dotted path of a
# notifications.sms.BaseSmsBackend subclass; the default only logs) and its keyword arguments (a
# JSON object), the signature put before every text, the portal's address for links in e-mail,
# attempts before an e-mail/SMS delivery is given up, the back-off (base × 2^(n-1), capped), when a
# claimed delivery counts as abandoned by its worker, and how often beat sweeps.
TELEMED_SMS_BACKEND = os.environ.get("TELEMED_SMS_BACKEND", "").strip() or "notifications.sms.ConsoleSmsBackend"
try:
    TELEMED_SMS_OPTIONS = json.loads(os.environ.get("TELEMED_SMS_OPTIONS", "").strip() or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"TELEMED_SMS_OPTIONS must be a JSON object: {exc}") from exc
if not isinstance(TELEMED_SMS_OPTIONS, dict):
    raise ImproperlyConfigured("TELEMED_SMS_OPTIONS must be a JSON object, e.g. {\"sign_name\": \"吉林远程医疗\"}")
TELEMED_SMS_SIGNATURE = os.environ.get("TELEMED_SMS_SIGNATURE", "【吉林远程医疗】")
TELEMED_SITE_URL = os.environ.get("TELEMED_SITE_URL", "").strip().rstrip("/")
TELEMED_NOTIFY_MAX_ATTEMPTS = env_int("TELEMED_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
TELEMED_NOTIFY_BACKOFF_SECONDS = env_int("TELEMED_NOTIFY_BACKOFF_SECONDS", 60, minimum=1)
TELEMED_NOTIFY_BACKOFF_CAP_SECONDS = env_int("TELEMED_NOTIFY_BACKOFF_CAP_SECONDS", 3600, minimum=1)
TELEMED_NOTIFY_STALE_SECONDS = env_int("TELEMED_NOTIFY_STALE_SECONDS", 600, minimum=60)
TELEMED_NOTIFY_SWEEP_SECONDS = env_int("TELEMED_NOTIFY_SWEEP_SECONDS", 60, minimum=5)

# JL-O6: complaints. Deadlines in calendar days from receipt — the deployment's choice, not a
# regulation's count; the public pages' rate per client address ("5/hour": per minute, hour or day),
# counted in the default cache.
TELEMED_COMPLAINT_ACK_DAYS = env_int("TELEMED_COMPLAINT_ACK_DAYS", 2, minimum=1)
TELEMED_COMPLAINT_ANSWER_DAYS = env_int("TELEMED_COMPLAINT_ANSWER_DAYS", 10, minimum=1)
TELEMED_COMPLAINT_RATE = os.environ.get("TELEMED_COMPLAINT_RATE", "") or "5/hour"
if not re.fullmatch(r"\s*[1-9]\d*\s*/\s*(minute|hour|day)\s*", TELEMED_COMPLAINT_RATE):
    raise ImproperlyConfigured(f"TELEMED_COMPLAINT_RATE={TELEMED_COMPLAINT_RATE!r}: expected e.g. 5/hour (per minute, hour or day)")
# JL-O6: the public read pages of random inspections and credit records, per client address.
TELEMED_PUBLIC_READ_RATE = os.environ.get("TELEMED_PUBLIC_READ_RATE", "") or "300/minute"
if not re.fullmatch(r"\s*[1-9]\d*\s*/\s*(minute|hour|day)\s*", TELEMED_PUBLIC_READ_RATE):
    raise ImproperlyConfigured(f"TELEMED_PUBLIC_READ_RATE={TELEMED_PUBLIC_READ_RATE!r}: expected e.g. 300/minute")
if TELEMED_COMPLAINT_ANSWER_DAYS < TELEMED_COMPLAINT_ACK_DAYS:
    raise ImproperlyConfigured("TELEMED_COMPLAINT_ANSWER_DAYS must be at least TELEMED_COMPLAINT_ACK_DAYS")
