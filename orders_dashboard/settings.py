"""Settings, all from the environment (one module for every deployment).

Variables: DATABASE_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS, ORDERS_CURRENCY, CSRF_TRUSTED_ORIGINS,
SECURE_SSL_REDIRECT, SECURE_HSTS_SECONDS, SECURE_PROXY_SSL_HEADER (set to "1" behind a TLS proxy that sends
X-Forwarded-Proto), LOG_LEVEL, TASKS_BACKEND, MEDIA_ROOT. See README.md.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off).")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# The development key is public (it is in this file); production must bring its own.
DEVELOPMENT_SECRET_KEY = "django-insecure-orders-dashboard-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off: refusing to start with the public development key. "
        "Set SECRET_KEY to a long random value (or DEBUG=1 on a development machine)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_htmx",
    "import_export",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files for the API docs page, served by us (no CDN)
    "django_tasks_db",  # the task queue's table (see TASKS)
    "orders",
    "segments",
    "rules",
    # Last: its post_migrate handler (granting the roles their permissions) runs after auth's, which
    # creates the permissions.
    "orders_dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "orders_dashboard.urls"
WSGI_APPLICATION = "orders_dashboard.wsgi.application"
ASGI_APPLICATION = "orders_dashboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "orders_dashboard.context_processors.dashboard",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
# Default: a SQLite file in the project folder. SQLite runs in WAL mode with a busy timeout, and opens
# write transactions IMMEDIATE so that two processes (the dev server and a management command) queue
# for the write lock instead of failing with "database is locked" when a read transaction upgrades.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N / time ----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG

# Files the app writes: the CSV of export jobs (orders.models.Export.file). Never served as static files:
# an export is downloaded through a view that checks who asks.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")

# --- Background tasks (django.tasks) ------------------------------------------------------------------
# Bulk imports and export jobs run as tasks. The default backend, django-tasks-db's DatabaseBackend, keeps
# the queue in our own database (SQLite or PostgreSQL: nothing else to run) and `manage.py db_worker` runs
# the tasks (`make run` starts one beside the server). TASKS_BACKEND=immediate runs each task inside the
# request that enqueues it, with no worker; the tests use that.
TASKS_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
TASKS_BACKEND = os.environ.get("TASKS_BACKEND") or "database"
if TASKS_BACKEND not in TASKS_BACKENDS:
    raise ImproperlyConfigured(f"TASKS_BACKEND={TASKS_BACKEND!r}: use one of {', '.join(TASKS_BACKENDS)}.")
TASKS = {"default": {"BACKEND": TASKS_BACKENDS[TASKS_BACKEND]}}

# --- Security -------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; either is fine.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging --------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# --- The product ----------------------------------------------------------------------------------------
# Display only: amounts are stored and exchanged as integer minor units whatever the currency.
ORDERS_CURRENCY = os.environ.get("ORDERS_CURRENCY", "USD")
ORDERS_MAX_ITEMS = 500
# The order form posts ~8 fields per item row; Django's default cap (1,000) would refuse big carts.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10 * ORDERS_MAX_ITEMS + 500

# --- REST API (orders_dashboard.api) --------------------------------------------------------------------
# Mounted at /api. API-key authentication only (X-App-Id + X-App-Token; no session or cookie), JSON in and
# out, every error in the envelope of orders_dashboard.api.errors. Views derive from
# orders_dashboard.api.views.ApiView, which adds the request id and the body-size limit.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders_dashboard.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["orders_dashboard.api.authentication.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["orders_dashboard.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "orders_dashboard.api.parsers.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "orders_dashboard.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Largest request body an API view reads (413 past it); a view may set its own ``max_body_bytes``.
# 2.5 MB holds an order of 500 items with generous metadata.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", 2_621_440))
SPECTACULAR_SETTINGS = {
    "TITLE": "Orders dashboard API",
    "DESCRIPTION": "The Orders part follows Voucherify's Orders API (v2018-08-01): same paths, field names, "
    "status values, X-App-Id/X-App-Token headers and error envelope. Amounts are integers in minor units.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_AUTHENTICATION": ["orders_dashboard.api.authentication.ApiKeyAuthentication"],
    "SERVE_PERMISSIONS": ["orders_dashboard.api.authentication.HasApiKey"],
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Paths are documented without the trailing slash that the API also tolerates.
    "PREPROCESSING_HOOKS": ["orders_dashboard.api.schema.without_slash_aliases"],
    # Choice sets that share a field name ("type") get a name each; the discount types keep their first one.
    "ENUM_NAME_OVERRIDES": {
        "TypeEnum": "rules.choices.DiscountType.values",
        "SegmentTypeEnum": "segments.choices.SegmentType.values",
    },
}
# --- end of REST API ------------------------------------------------------------------------------------
