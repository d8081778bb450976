"""Settings of the fleet portal, read from the environment with safe defaults for the embedded demo.

Every variable is listed in `.env.example`. There is one settings module: production differs from the
demo only by what the environment says.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable as a list of stripped, non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "insecure-key-for-local-debug-only"  # only ever used with DEBUG on

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "fleet",
    "accounts",
    "assets",
    "telemetry",
    "maintenance",
    "contracts",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fleet.urls"
WSGI_APPLICATION = "fleet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fleet.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT compiles a query whose estimated cost passes a threshold: the portal's large but indexed
    # queries (usage over 100,000 assets) spent more than a second compiling for less than that of execution.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are a PostgreSQL speed-up; SQLite builds the same index without the extra columns.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# Login lockout: five failures for one e-mail address from one IP lock it out for an hour.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "0")) or None

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Uploaded and generated files are served only through views that apply tenancy: there is no MEDIA_URL route.
MEDIA_URL = "/private-media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# Security. The production defaults follow DEBUG; behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=1.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# E-mail: the console in the demo, SMTP in production. Links in e-mails start with the portal's public address.
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
EMAIL_BACKEND_NAME = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_NAME}}
if EMAIL_BACKEND_NAME.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 30,
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "fleet-portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: with no broker configured, tasks run eagerly in the web process (the embedded demo).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = 200
# Documents (WeasyPrint) keep memory a process never returns: a worker child past this many KiB is replaced.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 512_000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The clock of the beat schedule's crontab entries: the provider's, so that "nightly" is night where it works.
CELERY_TIMEZONE = os.environ.get("BEAT_TIME_ZONE", "Asia/Tokyo")
# The nightly replacement forecasts recompute customers in batches of at most this many in-service assets: one
# set-based pass per batch (larger batches are faster per asset; memory grows with the batch's wear parts).
FORECAST_BATCH_ASSETS = int(os.environ.get("FORECAST_BATCH_ASSETS", "100000"))
# The monthly billing run drafts customers in batches of this many per task (contracts.billing).
BILLING_BATCH_CUSTOMERS = int(os.environ.get("BILLING_BATCH_CUSTOMERS", "25"))
# The cost ledger (reports.ledger): the daily sweep rebuilds this many months up to today's, in batches of customers.
LEDGER_SWEEP_MONTHS = 2
LEDGER_BATCH_CUSTOMERS = int(os.environ.get("LEDGER_BATCH_CUSTOMERS", "50"))
# The day of the month from which the last month's KPI snapshot is taken (reports.snapshots): after the billing run
# and its review days, when the month's invoices are final.
KPI_SNAPSHOT_DAY = int(os.environ.get("KPI_SNAPSHOT_DAY", "5"))
# The whole beat schedule lives here; later apps add their periodic sweeps.
CELERY_BEAT_SCHEDULE: dict = {
    # Replacement forecasts: recompute them in batches of customers, then ship or replace what is due, one task
    # per customer, nightly.
    "maintenance-forecasts-nightly": {
        "task": "maintenance.replacements.forecasts_nightly_task",
        "schedule": crontab(hour=1, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Preventive plans and statutory inspections: open the upcoming work orders (maintenance.plans), daily.
    "maintenance-preventive-plans": {
        "task": "maintenance.plans.preventive_plans_task",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Billing: start each provider's run of the month just ended, and finalise drafts whose review period has
    # passed (contracts.billing.billing_sweep), daily.
    "contracts-billing-sweep": {
        "task": "contracts.tasks.billing_sweep_task",
        "schedule": crontab(hour=6, minute=0),
        "options": {"expires": 12 * 3600},
    },
    # Payment reminders for overdue invoices, at most once per the provider's reminder interval, daily.
    "contracts-payment-reminders": {
        "task": "contracts.tasks_receivables.payment_reminders_task",
        "schedule": crontab(hour=9, minute=0),
        "options": {"expires": 12 * 3600},
    },
    # The cost ledger of this month and the last, for every active customer (reports.ledger), daily after billing.
    "reports-ledger-sweep": {
        "task": "reports.tasks.ledger_sweep_task",
        "schedule": crontab(hour=7, minute=0),
        "options": {"expires": 12 * 3600},
    },
    # The last month's KPI snapshot of every provider, once, from KPI_SNAPSHOT_DAY on (reports.snapshots).
    "reports-kpi-snapshots": {
        "task": "reports.tasks.kpi_snapshot_task",
        "schedule": crontab(hour=8, minute=0),
        "options": {"expires": 12 * 3600},
    },
    # Silent devices, owed work orders and alert e-mail digests (telemetry.alerts.alerts_sweep).
    "telemetry-alerts-sweep": {
        "task": "telemetry.tasks.alerts_sweep_task",
        "schedule": 300.0,
        "options": {"expires": 280},
    },
    # SLA breaches: flag open work orders past their due times and e-mail the digests (maintenance.sla.sla_sweep).
    "maintenance-sla-sweep": {
        "task": "maintenance.sla.sla_sweep_task",
        "schedule": 300.0,
        "options": {"expires": 280},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "fleet.api.ordering.StableOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "fleet.api.pagination.PagePagination",
    "DEFAULT_SCHEMA_CLASS": "fleet.api.schema.FleetAutoSchema",
    "EXCEPTION_HANDLER": "fleet.api.exceptions.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fleet portal API",
    "DESCRIPTION": "Assets, telemetry, maintenance and billing of managed equipment fleets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AssetStatusEnum": "assets.choices.AssetStatus",
        "AlertRuleKindEnum": "telemetry.choices.AlertRuleKind",
        "CounterSourceEnum": "telemetry.usage.COUNTER_SOURCE_CHOICES",
        "WorkOrderStatusEnum": "maintenance.choices.WorkOrderStatus",
        "WorkOrderKindEnum": "maintenance.choices.WorkOrderKind",
        "WorkOrderSourceEnum": "maintenance.choices.WorkOrderSource",
        "ChecklistResultEnum": "maintenance.choices.ChecklistResult",
        "ErasureMethodEnum": "maintenance.choices.ErasureMethod",
        "StatutoryInspectionEnum": "maintenance.choices.StatutoryInspection",
        "InspectionResultEnum": "maintenance.choices.InspectionResult",
        "ContractStatusEnum": "contracts.choices.ContractStatus",
        "ComponentKindEnum": "contracts.choices.ComponentKind",
        "InvoiceKindEnum": "contracts.choices.InvoiceKind",
        "AssetCategoryEnum": "assets.choices.AssetCategory",
        "CostCategoryEnum": "reports.choices.CostCategory",
        "CostViewEnum": "reports.choices.CostView",
        "ProposalStatusEnum": "reports.choices.ProposalStatus",
        "InvoiceStatusEnum": "contracts.choices.InvoiceStatus",
        "BillingRunStatusEnum": "contracts.choices.BillingRunStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"weasyprint": {"level": "ERROR"}, "fontTools": {"level": "ERROR"}},
}

# Portal behaviour.
PORTAL_PAGE_SIZE = 25
PORTAL_MAX_PAGE_SIZE = 200
# Fleet CSV imports larger than this many rows run as a Celery task with progress shown in the portal.
FLEET_IMPORT_ASYNC_ROWS = int(os.environ.get("FLEET_IMPORT_ASYNC_ROWS", "500"))
