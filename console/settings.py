"""Pushdeck settings: everything comes from the environment (see .env.example).

With nothing set, Pushdeck runs on the *embedded default*: SQLite and a Celery
broker kept in local folders, with the missing secrets generated once into
``var/secrets.env``. With ``DATABASE_URL`` and ``CELERY_BROKER_URL`` set it runs
on PostgreSQL and Redis or RabbitMQ.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("PUSHDECK_VAR_DIR", default=str(BASE_DIR / "var")))
# Off unless asked for: `make run` (the embedded default) sets DEBUG=true.
DEBUG = env.bool("DEBUG", default=False)


def _secret(name: str, make) -> str:
    """Read a secret from NAME or NAME_FILE; in the embedded default generate it once."""
    value = env.str(name, default="")
    if not value and env.str(f"{name}_FILE", default=""):
        value = Path(env.str(f"{name}_FILE")).read_text().strip()
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off. "
            "For the embedded default (secrets generated into the var folder) set DEBUG=true, as `make run` does."
        )
    local = VAR_DIR / "secrets.env"
    stored = {}
    if local.is_file():
        for line in local.read_text().splitlines():
            key, _sep, val = line.partition("=")
            stored[key.strip()] = val.strip()
    if name not in stored:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        stored[name] = make()
        local.write_text("".join(f"{k}={v}\n" for k, v in stored.items()))
        local.chmod(0o600)
    return stored[name]


SECRET_KEY = _secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = [
    k.strip() for k in _secret("FIELD_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode()).split(",") if k.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "console",
    "console.security",
    "console.acs",
    "console.ops",
    "templates_app",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Alibaba Cloud signed calls (official SDKs) go to the door, never to console pages.
    "console.acs.middleware.DoorMiddleware",
    # Our own signed APIs (/api/v1/) skip the rest: they use no session, CSRF, sign-in or lockout.
    "console.middleware.SignedApiMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.UserTimezoneMiddleware",
    "console.middleware.SecurityHeadersMiddleware",
    "console.security.middleware.TwoFactorMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'pushdeck.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
# PostgreSQL: a pool of DB_POOL_SIZE open connections per process (psycopg_pool), so a request
# or a job does not pay for a new server process per connection. 0 opens one per request.
DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=0)
if DB_POOL_SIZE > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django must hand them back
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": 30}
# The hot paths' fixed statements run prepared on PostgreSQL (console.rowsql.prepared_cursor);
# false for a pooler in transaction mode that cannot keep them (PgBouncer before 1.21).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
if DB_PREPARED_STATEMENTS and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The driver prepares only what asks for it (prepare=True): Django's own cursors never do.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Sign-in throttling (django-axes): after LOGIN_FAILURE_LIMIT failures for one
# username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("LOGIN_THROTTLING", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "code"]
AXES_CLIENT_IP_CALLABLE = "console.security.clientip.axes_client_ip"
# Two-factor (django-otp TOTP): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Pushdeck")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Nothing is written at import: collectstatic creates STATIC_ROOT (read-only containers work).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
# Uploads live outside the static root and are never served as HTML.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="pushdeck@localhost")

# Security: secure cookies and HSTS when served over HTTPS.
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE_HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
# Preload lists are hard to leave: opt in with SECURE_HSTS_PRELOAD=true.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# check --deploy would warn about the preload opt-out, which is deliberate.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
# Behind proxies, the client address is taken from X-Forwarded-For (PROXY_COUNT hops):
# used by the API allowlist, sign-in lockouts, the audit log and /metrics.
PUSHDECK_BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
PUSHDECK_PROXY_COUNT = env.int("PROXY_COUNT", default=1)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Celery: the embedded default keeps the queue in local folders so a real
# worker process consumes it without any server.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    # The folders are created by the first worker, beat or publish (console/celery.py), not here.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacked task (acks_late) of a killed worker goes back to the queue after this long.
    # Keep it above the longest chunk and the longest retry countdown (capped at 600 s), or
    # tasks run twice (harmless here, chunks are idempotent, but wasted work).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues per workload, so each can be scaled on its own machines.
# Routing is by task name: name tasks ingest_*, dispatch_*/deliver_*, send_receipt*, rollup_*.
CELERY_TASK_ROUTES = {
    "*.ingest_*": {"queue": "ingest"},
    "*.dispatch_*": {"queue": "dispatch"},
    "*.deliver_*": {"queue": "dispatch"},
    "*.send_receipt*": {"queue": "receipts"},
    "*.rollup_*": {"queue": "rollups"},
}
PUSHDECK_QUEUES = ["default", "ingest", "dispatch", "receipts", "rollups"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Gateways: base URLs are settings so tests and staging can point them anywhere.
APNS_PRODUCTION_URL = env.str("APNS_PRODUCTION_URL", default="https://api.push.apple.com")
APNS_SANDBOX_URL = env.str("APNS_SANDBOX_URL", default="https://api.sandbox.push.apple.com")
FCM_URL = env.str("FCM_URL", default="https://fcm.googleapis.com")
# FCM's OAuth token endpoint: Google's, whatever `token_uri` an uploaded service account names.
FCM_TOKEN_URL = env.str("FCM_TOKEN_URL", default="https://oauth2.googleapis.com/token")
# Outbound requests a user can aim (callback URLs, URLs from uploads) go only to public
# addresses; these networks (comma-separated CIDRs) are allowed besides, e.g. 10.0.0.0/8.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
HUAWEI_URL = env.str("HUAWEI_URL", default="https://push-api.cloud.huawei.com")
HUAWEI_TOKEN_URL = env.str("HUAWEI_TOKEN_URL", default="https://oauth-login.cloud.huawei.com/oauth2/v3/token")
XIAOMI_URL = env.str("XIAOMI_URL", default="https://api.xmpush.xiaomi.com")
OPPO_URL = env.str("OPPO_URL", default="https://api.push.oppomobile.com")
VIVO_URL = env.str("VIVO_URL", default="https://api-push.vivo.com.cn")
HONOR_URL = env.str("HONOR_URL", default="https://push-api.cloud.hihonor.com")
HONOR_TOKEN_URL = env.str("HONOR_TOKEN_URL", default="https://iam.developer.hihonor.com/auth/token")
MEIZU_URL = env.str("MEIZU_URL", default="http://server-api-push.meizu.com")
GATEWAY_CA_BUNDLE = env.str("GATEWAY_CA_BUNDLE", default="")
GATEWAY_TIMEOUT = env.float("GATEWAY_TIMEOUT", default=10.0)
# The sandbox gateway (demo apps): accepts every push after this latency, fails this share.
SANDBOX_GATEWAY_LATENCY_MS = env.int("SANDBOX_GATEWAY_LATENCY_MS", default=20)
SANDBOX_GATEWAY_FAILURE_RATE = env.float("SANDBOX_GATEWAY_FAILURE_RATE", default=0.0)
# Deterministic: a push fails or not by a hash of its push id (same answer on re-send).
SANDBOX_GATEWAY_DETERMINISTIC = env.bool("SANDBOX_GATEWAY_DETERMINISTIC", default=True)
# Concurrent HTTP/2 streams per APNs connection (capped by the server's own setting).
APNS_MAX_STREAMS = env.int("APNS_MAX_STREAMS", default=100)
# Connections per APNs credential; a batch is spread over them.
APNS_CONNECTIONS = env.int("APNS_CONNECTIONS", default=2)
# An HTTP/2 connection idle this long is PINGed before use; no ACK within APNS_PING_TIMEOUT
# (or GATEWAY_TIMEOUT if shorter) and it is replaced, as is one with this many timeouts in a row.
APNS_PING_IDLE_SECONDS = env.float("APNS_PING_IDLE_SECONDS", default=60.0)
APNS_PING_TIMEOUT = env.float("APNS_PING_TIMEOUT", default=5.0)
APNS_TIMEOUTS_BEFORE_RECONNECT = env.int("APNS_TIMEOUTS_BEFORE_RECONNECT", default=3)

# Delivery engine: fan-out, retries, concurrency limits, self-built channel, receipts, SMS.
PUSHDECK_CHUNK_SIZE = env.int("PUSHDECK_CHUNK_SIZE", default=500)
# Connections that turn a confirmed multiple push file into messages at once (PostgreSQL).
PUSHDECK_INGEST_CONNECTIONS = env.int("PUSHDECK_INGEST_CONNECTIONS", default=min(4, os.cpu_count() or 1))
PUSHDECK_GATEWAY_BATCH = env.int("PUSHDECK_GATEWAY_BATCH", default=100)
PUSHDECK_MAX_RETRIES = env.int("PUSHDECK_MAX_RETRIES", default=6)
PUSHDECK_RETRY_BASE_SECONDS = env.float("PUSHDECK_RETRY_BASE_SECONDS", default=5.0)
PUSHDECK_APP_CONCURRENCY = env.int("PUSHDECK_APP_CONCURRENCY", default=4)
PUSHDECK_CHANNEL_CONCURRENCY = env.int("PUSHDECK_CHANNEL_CONCURRENCY", default=2)
PUSHDECK_SLOT_LEASE_SECONDS = env.float("PUSHDECK_SLOT_LEASE_SECONDS", default=300.0)
PUSHDECK_SLOT_RETRY_SECONDS = env.float("PUSHDECK_SLOT_RETRY_SECONDS", default=1.0)
PUSHDECK_CALLBACK_MAX_ATTEMPTS = env.int("PUSHDECK_CALLBACK_MAX_ATTEMPTS", default=6)
PUSHDECK_CALLBACK_RETRY_BASE_SECONDS = env.float("PUSHDECK_CALLBACK_RETRY_BASE_SECONDS", default=10.0)
# Receipts: batch size per task, POSTs in flight per batch, batches per app at once (whole fleet).
PUSHDECK_CALLBACK_BATCH = env.int("PUSHDECK_CALLBACK_BATCH", default=200)
PUSHDECK_CALLBACK_CONCURRENCY = env.int("PUSHDECK_CALLBACK_CONCURRENCY", default=16)
PUSHDECK_CALLBACK_APP_TASKS = env.int("PUSHDECK_CALLBACK_APP_TASKS", default=2)
PUSHDECK_CALLBACK_TIMEOUT = env.float("PUSHDECK_CALLBACK_TIMEOUT", default=10.0)
PUSHDECK_STUCK_SECONDS = env.int("PUSHDECK_STUCK_SECONDS", default=900)
# Client API: calls a minute per app (all its devices) and per device; 0 = no limit.
PUSHDECK_CLIENT_RATE_LIMIT_PER_MINUTE = env.int("PUSHDECK_CLIENT_RATE_LIMIT_PER_MINUTE", default=600_000)
PUSHDECK_CLIENT_DEVICE_RATE_LIMIT_PER_MINUTE = env.int("PUSHDECK_CLIENT_DEVICE_RATE_LIMIT_PER_MINUTE", default=120)
# A retry further away than this waits in the database (next_attempt_at), not as a broker
# countdown: keep it well below CELERY_VISIBILITY_TIMEOUT.
PUSHDECK_PARK_AFTER_SECONDS = env.float("PUSHDECK_PARK_AFTER_SECONDS", default=300.0)
# A delivery claimed for sending longer ago than this belongs to a worker that died: re-opened.
PUSHDECK_CLAIM_TIMEOUT_SECONDS = env.float("PUSHDECK_CLAIM_TIMEOUT_SECONDS", default=600.0)
PUSHDECK_POLL_MAX_WAIT = env.float("PUSHDECK_POLL_MAX_WAIT", default=25.0)
PUSHDECK_POLL_INTERVAL = env.float("PUSHDECK_POLL_INTERVAL", default=0.5)
SMS_PROVIDER = env.str("SMS_PROVIDER", default="sandbox")
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_KEY = env.str("SMS_HTTP_KEY", default="")
SMS_HTTP_SECRET = env.str("SMS_HTTP_SECRET", default="") or (
    Path(env.str("SMS_HTTP_SECRET_FILE")).read_text().strip() if env.str("SMS_HTTP_SECRET_FILE", default="") else ""
)

# Product limits and knobs.
PUSHDECK_MESSAGE_RETENTION_DAYS = env.int("MESSAGE_RETENTION_DAYS", default=30)
PUSHDECK_CERT_WARNING_DAYS = 15
PUSHDECK_API_CLOCK_SKEW_SECONDS = 300
# Alibaba Cloud door (console/acs): accepted skew of x-acs-date, as Alibaba Cloud's 15 minutes;
# the WorkspaceId that, with the AppKey as AppId, names an app to the mPaaS SDK.
ACS_DATE_WINDOW_SECONDS = 900
PUSHDECK_WORKSPACE_ID = env.str("PUSHDECK_WORKSPACE_ID", default="default")
PUSHDECK_RETENTION_BATCH = env.int("MESSAGE_RETENTION_BATCH", default=2000)
# After each slice the purge rests this many times the slice's own duration (0: no rest), so a
# dispatch running meanwhile keeps most of the machine.
PUSHDECK_RETENTION_PAUSE = env.float("MESSAGE_RETENTION_PAUSE", default=0.6)
# Signed API: requests per app per minute (0 = unlimited; an app may have its own limit).
PUSHDECK_API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
# /metrics: a bearer token and/or source networks (comma-separated CIDRs); neither = closed.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
# Upload limits, enforced while the request streams in: multiple push file, .txt target list.
PUSHDECK_MULTIPLE_FILE_MAX_BYTES = env.int("PUSHDECK_MULTIPLE_FILE_MAX_BYTES", default=200 * 1024 * 1024)
PUSHDECK_TARGET_FILE_MAX_BYTES = env.int("PUSHDECK_TARGET_FILE_MAX_BYTES", default=30 * 1024 * 1024)
# ... certificates, .p8 keys and service accounts; template icon + image (+ a preview's sample CSV).
PUSHDECK_CREDENTIAL_FILE_MAX_BYTES = env.int("PUSHDECK_CREDENTIAL_FILE_MAX_BYTES", default=1024 * 1024)
PUSHDECK_TEMPLATE_UPLOAD_MAX_BYTES = env.int("PUSHDECK_TEMPLATE_UPLOAD_MAX_BYTES", default=8 * 1024 * 1024)

# LOG_FORMAT=json writes one JSON object per line (for log shippers).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "console.ops.logs.JsonFormatter"},
    },
    "filters": {"one_line_403": {"()": "console.ops.logs.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request at INFO: one line per receipt, with its signature in the URL.
        "httpx": {"level": "WARNING"},
        "django.request": {"filters": ["one_line_403"]},
        "django.security": {"filters": ["one_line_403"]},
    },
}
