"""All settings of the workstation. Every deployment choice comes from an environment variable
(listed in .env.example) and has a working embedded default: SQLite, a channel layer that crosses
the machine's processes through the database (accounts.database_layer), in-process jobs, files in
./var/."""

from datetime import timedelta
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from config.env import (
    ConfigurationError,
    database_from_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "insecure-embedded-default-key-change-me"  # noqa: S105  (refused in production)

ENVIRONMENT = env_choice("READINGWS_ENV", "development", ("development", "production"))
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DEBUG", not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DEBUG is on")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 40:
        problems.append("SECRET_KEY is the default or shorter than 40 characters")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is empty")
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "django_tasks_db",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "worklist",
    "ai_overlays",
    "stats",
    "data_platform",
    "reading",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.idle_timeout.IdleTimeoutMiddleware",
    "accounts.two_factor.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:  # in development runserver (daphne) and the test live server serve static files
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "worklist:home"
LOGOUT_REDIRECT_URL = "accounts:login"

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
                "accounts.navigation.allowed_actions",
                "accounts.idle_timeout.idle_timeout_context",
            ],
        },
    },
]

# --- data -------------------------------------------------------------------------------------
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'readingws.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL, base_dir=BASE_DIR)}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Named outright: the live-server tests' forked daphne would otherwise prefix "test_" twice.
    DATABASES["default"]["TEST"] = {"NAME": "test_" + DATABASES["default"]["NAME"]}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # ChannelsLiveServerTestCase refuses an in-memory test database.
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_SQLITE_NAME", str(BASE_DIR / "test_db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STORAGE_DIR = env_path("STORAGE_DIR", VAR_DIR / "archive")
# Where the data platform writes its pseudonymised packages (never inside the archive).
DATA_EXPORT_DIR = env_path("DATA_EXPORT_DIR", VAR_DIR / "exports")
# What happens when a known SOP Instance UID arrives with different bytes: "reject" keeps the
# first copy (the DICOM failure status / HTTP 409 names the conflict), "replace" keeps the newest.
DUPLICATE_POLICY = env_choice("DUPLICATE_POLICY", "reject", ("reject", "replace"))
# Decoded pixel bytes one instance may declare; above it the file is refused (decompression bombs).
MAX_PIXEL_BYTES = env_int("MAX_PIXEL_BYTES", 1 << 30, minimum=1 << 20)
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 2 << 30, minimum=1 << 20)
MAX_ZIP_ENTRIES = env_int("MAX_ZIP_ENTRIES", 100_000, minimum=1)
# A zip may inflate to this much in all, and an entry over 1 MiB at most this ratio (zip bombs).
MAX_ZIP_INFLATED_BYTES = env_int("MAX_ZIP_INFLATED_BYTES", 16 << 30, minimum=1 << 20)
MAX_ZIP_RATIO = env_int("MAX_ZIP_RATIO", 200, minimum=2)
MAX_STOW_PARTS = env_int("MAX_STOW_PARTS", 5000, minimum=1)

# --- live updates ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
CHANNEL_PREFIX = env_str("CHANNEL_PREFIX", "readingws")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times a read out after 5 s, the very time channels_redis blocks in
            # BZPOPMIN waiting for a message: an idle process then lost a socket now and then.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": CHANNEL_PREFIX},
        }
    }
else:
    # In memory within a process; across the processes of ./run (web server, DICOM listener, AI
    # dispatcher) through a table in the database, read every 250 ms where sockets are open.
    CHANNEL_LAYERS = {"default": {"BACKEND": "accounts.database_layer.DatabaseChannelLayer"}}

# --- background jobs ------------------------------------------------------------------------
TASKS_BACKEND = env_choice("TASKS_BACKEND", "immediate", ("immediate", "database"))
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend"
        if TASKS_BACKEND == "database"
        else "django.tasks.backends.immediate.ImmediateBackend"
    }
}

# --- worklist ------------------------------------------------------------------------------
# Which flags put a study first, in order (worklist.priority); a claim idle this long is released.
WORKLIST_PRIORITY_ORDER = env_list("WORKLIST_PRIORITY_ORDER", ["ai_urgent", "stat"])
if not set(WORKLIST_PRIORITY_ORDER) <= {"ai_urgent", "stat"}:
    raise ConfigurationError("WORKLIST_PRIORITY_ORDER may list only ai_urgent and stat")
CLAIM_IDLE_MINUTES = env_int("CLAIM_IDLE_MINUTES", 30, minimum=0)

# --- agreement statistics -------------------------------------------------------------------
# Below this many cases a figure reads "too few cases"; a model version whose kappa falls below the
# floor (in hundredths) is flagged.
STATS_MIN_CASES = env_int("STATS_MIN_CASES", 10, minimum=1)
STATS_AGREEMENT_FLOOR = env_int("STATS_AGREEMENT_FLOOR_PERCENT", 40, minimum=0, maximum=100) / 100

# --- AI engines -----------------------------------------------------------------------------
# A study is sent to the engines once no instance has arrived for this long; a failed send is
# retried after AI_RETRY_SECONDS, doubling, up to AI_MAX_ATTEMPTS; an intake body may be this big.
AI_STABLE_SECONDS = env_int("AI_STABLE_SECONDS", 60, minimum=0)
AI_RETRY_SECONDS = env_int("AI_RETRY_SECONDS", 30, minimum=1)
AI_MAX_ATTEMPTS = env_int("AI_MAX_ATTEMPTS", 5, minimum=1)
AI_MAX_RESULT_BYTES = env_int("AI_MAX_RESULT_BYTES", 256 << 20, minimum=1 << 20)
# How engines reach us (the WADO-RS root and the results URL in a job's notice).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# --- DICOM ----------------------------------------------------------------------------------
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "READINGWS")
DICOM_BIND = env_str("DICOM_BIND", "127.0.0.1")
DICOM_PORT = env_int("DICOM_PORT", 11112, minimum=0, maximum=65535)
if not 1 <= len(DICOM_AE_TITLE) <= 16:
    raise ConfigurationError("DICOM_AE_TITLE must be 1 to 16 characters")
# The PACS we pull from (DICOMweb); empty means none configured.
PACS_DICOMWEB_URL = env_str("PACS_DICOMWEB_URL", "")
PACS_USERNAME = env_str("PACS_USERNAME", "")
PACS_PASSWORD = env_str("PACS_PASSWORD", "")
PACS_SITE = env_str("PACS_SITE", "ANSEONG")
# Where signed reports go as DICOM SR: "AE@host:port" sends by C-STORE; empty sends by STOW-RS to
# PACS_DICOMWEB_URL (or nowhere when that is empty too).
PACS_STORE_AE = env_str("PACS_STORE_AE", "")

# --- language and time ----------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ko")
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

# --- static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

from django.utils.csp import CSP  # noqa: E402  (after the settings it does not need)

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
}

# Preloading HSTS is a decision for the hospital's whole domain, not for this application. The
# statistics' covering indexes INCLUDE columns on PostgreSQL; SQLite keeps just their keys.
SILENCED_SYSTEM_CHECKS = ["security.W021", "models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- sign-in --------------------------------------------------------------------------------
# django-axes checks the lockout before the password; ModelBackend then checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# LOGIN_FAILURE_LIMIT wrong passwords for one username from one address lock that pair out for
# LOGIN_COOLOFF_MINUTES; a colleague on the same reading-room PC is not locked out with them.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.signin.lockout_response"
# The address the audit trail records (REMOTE_ADDR); a forged X-Forwarded-For must not reset the count.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Axes would log the attempted username, which may be a mistyped patient name or ID.
AXES_VERBOSE = False
AXES_CLIENT_STR_CALLABLE = "accounts.signin.client_description"
# Sessions end after this many minutes without user activity (reading rooms are shared rooms).
IDLE_TIMEOUT_MINUTES = env_int("IDLE_TIMEOUT_MINUTES", 30, minimum=1)
# Roles that must pass a TOTP second factor; by default admins and data stewards in production,
# nobody in development (the demo logins of ./run). Set it empty to require it of nobody.
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", ["admin", "data_steward"] if PRODUCTION else [])
if not set(OTP_REQUIRED_ROLES) <= {"radiologist", "department_head", "admin", "data_steward"}:
    raise ConfigurationError("OTP_REQUIRED_ROLES may list only radiologist, department_head, admin, data_steward")
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Reading workstation")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.problems.api_exception_handler",
}
SPECTACULAR_SETTINGS = {"TITLE": "Reading workstation API", "VERSION": "1"}

# Logs carry identifiers we make (UIDs, primary keys), never patient names or IDs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "pynetdicom": {"level": "WARNING"},
        # pydicom's warnings quote the offending value, which may be a patient's name or ID.
        "pydicom": {"level": "ERROR"},
        "django.channels.server": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
    },
}
