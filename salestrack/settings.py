"""salestrack settings: one module, driven by the environment.

With no environment at all the project runs embedded: SQLite in the project
folder and Celery in eager mode, so `make run` works offline on any machine.
Set DATABASE_URL / REDIS_URL for PostgreSQL, Redis and a real Celery worker,
and SALESTRACK_ENV=production for the hardened production mode.
"""

from datetime import date, timedelta
from ipaddress import ip_network
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_HASHES
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """A true/false switch; a typo fails loudly instead of quietly meaning False (as env.bool does)."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}")


SALESTRACK_ENV = env.str("SALESTRACK_ENV", default="development")
if SALESTRACK_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(
        f"SALESTRACK_ENV must be development, production or test, not {SALESTRACK_ENV!r}"
    )
PRODUCTION = SALESTRACK_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when SALESTRACK_ENV=production")

if PRODUCTION:
    # No default: production refuses to start without a real secret.
    SECRET_KEY = env.str("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    # Otherwise the app starts and answers every request with 400.
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's host names in production")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "salestrack.admin_site.SalestrackAdminConfig",  # django.contrib.admin, with the project's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the API docs page's JavaScript and CSS, served from static
    "salestrack.apps.SalestrackConfig",  # starts the idle sign-out's clock at sign-in
    "axes",  # sign-in lock-out (settings in the security block below)
    "csp",  # Content-Security-Policy header
    "django_celery_beat",
    "simple_history",
    "activities",
    "metrics",
    "leaderboards",
]

MIDDLEWARE = [
    "salestrack.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page but sign-in requires sign-in; views opt out with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An idle session is signed out (and told why) before LoginRequiredMiddleware's check
    # sends the request to the sign-in page.
    "salestrack.security.IdleSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a refused sign-in of a locked-out user into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "salestrack.urls"

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
                "activities.context_processors.viewer",
            ],
        },
    },
]

WSGI_APPLICATION = "salestrack.wsgi.application"

# Database: SQLite in the project folder unless DATABASE_URL says otherwise.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the dev server read while a seed or job writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "activities.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Internationalisation: every user-facing string is translatable; numbers,
# money and dates are formatted for the active locale.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [
    ("en", _("English")),
    ("es", _("Spanish")),
    ("de", _("German")),
    ("id", _("Indonesian")),
    ("ko", _("Korean")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

# The currency every amount is kept in (ISO 4217 code, shown beside money).
SALESTRACK_CURRENCY = env.str("SALESTRACK_CURRENCY", default="USD")


# The calendar window of every date a user may enter: no earlier than this (a typo such as
# 0226-11-01 is refused), and no further ahead than SALESTRACK_MAX_FUTURE_DAYS.
def env_date(name: str, default: str) -> date:
    raw = env.str(name, default=default).strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a date written YYYY-MM-DD, not {raw!r}") from None


# The calendar month fiscal years (and so quarters) start in; a fiscal year is named by the
# calendar year it ends in (docs/metrics.md). Changing it recomputes every period.
SALESTRACK_FISCAL_YEAR_START_MONTH = env.int("SALESTRACK_FISCAL_YEAR_START_MONTH", default=1)
if not 1 <= SALESTRACK_FISCAL_YEAR_START_MONTH <= 12:
    raise ImproperlyConfigured("SALESTRACK_FISCAL_YEAR_START_MONTH must be a month, 1 to 12")
SALESTRACK_EARLIEST_DATE = env_date("SALESTRACK_EARLIEST_DATE", default="2000-01-01")
if SALESTRACK_EARLIEST_DATE.year < 1900:
    raise ImproperlyConfigured("SALESTRACK_EARLIEST_DATE must be in 1900 or later")
# How far ahead a date may lie before it is rejected as a typo.
SALESTRACK_MAX_FUTURE_DAYS = env.int("SALESTRACK_MAX_FUTURE_DAYS", default=1)
if not 0 <= SALESTRACK_MAX_FUTURE_DAYS <= 3660:
    raise ImproperlyConfigured("SALESTRACK_MAX_FUTURE_DAYS must be between 0 and 3660")
SALESTRACK_MAX_EXPECTED_CLOSE_YEARS = env.int("SALESTRACK_MAX_EXPECTED_CLOSE_YEARS", default=5)
# The win-rate leaderboard ranks only reps with at least this many closed (won + lost) deals.
LEADERBOARD_MIN_CLOSED_DEALS = env.int("LEADERBOARD_MIN_CLOSED_DEALS", default=5)
if LEADERBOARD_MIN_CLOSED_DEALS < 0:
    raise ImproperlyConfigured("LEADERBOARD_MIN_CLOSED_DEALS cannot be negative")
# The leaderboards' TV mode reloads itself this often (seconds).
LEADERBOARD_TV_REFRESH_SECONDS = env.int("LEADERBOARD_TV_REFRESH_SECONDS", default=300)
if LEADERBOARD_TV_REFRESH_SECONDS < 10:
    raise ImproperlyConfigured("LEADERBOARD_TV_REFRESH_SECONDS must be at least 10")
# Alerts: a rep with no activity logged for this many working days (Monday to Friday).
SALESTRACK_INACTIVE_WORKING_DAYS = env.int("SALESTRACK_INACTIVE_WORKING_DAYS", default=3)
if SALESTRACK_INACTIVE_WORKING_DAYS < 1:
    raise ImproperlyConfigured("SALESTRACK_INACTIVE_WORKING_DAYS must be at least 1")
# Alerts: nobody is "behind pace" in the first this-many days of a period (one early win
# reads 200 %, a slow first day 0 %); the pace figure itself is shown from the first day.
SALESTRACK_PACE_GRACE_DAYS = env.int("SALESTRACK_PACE_GRACE_DAYS", default=5)
if SALESTRACK_PACE_GRACE_DAYS < 0:
    raise ImproperlyConfigured("SALESTRACK_PACE_GRACE_DAYS cannot be negative")

STATIC_URL = "static/"
# collectstatic writes here in production; elsewhere whitenoise serves straight from static/.
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Celery: eager (in-process) without REDIS_URL, so the demo needs no services.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: DRF answers an unauthenticated call with the first class's challenge,
        # so a bad token gets 401 + "WWW-Authenticate: Token" instead of 403. Failed tokens are
        # counted per address and locked out (salestrack/tokens.py).
        "salestrack.tokens.LockingTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    # Every GET counts against "reads"; write endpoints use "writes" (and "bulk" for bulk). The
    # throttles let requests through when the cache is down (activities/api/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": ["activities.api.throttles.ReadThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "reads": env.str("API_READ_RATE", default="600/min"),
        "writes": env.str("API_WRITE_RATE", default="120/min"),
        "bulk": env.str("API_BULK_RATE", default="20/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "salestrack API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets come from drf-spectacular-sidecar (static/), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Where the app is reached, for absolute links in e-mails (the managers' daily digest).
SALESTRACK_BASE_URL = env.str("SALESTRACK_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="salestrack@localhost")

# Uploads: imports stream from disk; refuse bodies bigger than this (bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
# The largest import file accepted from the upload page (the command line has no limit).
SALESTRACK_IMPORT_MAX_BYTES = env.int("SALESTRACK_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
# Where uploaded import files wait for their Celery task (shared by web and worker).
SALESTRACK_IMPORT_DIR = env.str("SALESTRACK_IMPORT_DIR", default=str(BASE_DIR / "var" / "imports"))
# An import task longer than this is stopped (nothing is written); a job still "running" well
# after it, because its worker died, is marked as failed by the hourly housekeeping task.
SALESTRACK_IMPORT_TIME_LIMIT_SECONDS = env.int("SALESTRACK_IMPORT_TIME_LIMIT_SECONDS", default=3 * 3600)
# Products and accounts (the catalogue) are created by admins; true lets managers' imports create them too.
SALESTRACK_MANAGERS_CREATE_CATALOGUE = env_bool("SALESTRACK_MANAGERS_CREATE_CATALOGUE", default=False)

# A metrics chunk longer than this is stopped (it rolls back and is tried again); a run with no
# chunk finished for SALESTRACK_METRICS_RUN_STALE_MINUTES is ended by housekeeping as dead,
# which frees the run lock (its days stay marked for the next run).
SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS = env.int(
    "SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS", default=1800
)
SALESTRACK_METRICS_RUN_STALE_MINUTES = env.int("SALESTRACK_METRICS_RUN_STALE_MINUTES", default=45)
if SALESTRACK_METRICS_RUN_STALE_MINUTES * 60 <= SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS:
    raise ImproperlyConfigured(
        "SALESTRACK_METRICS_RUN_STALE_MINUTES must be longer than SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS"
    )

# --- size limits and no lost updates (issue 10) ---
# Uploads are refused while they stream in, as soon as they pass SALESTRACK_IMPORT_MAX_BYTES
# (activities.imports.uploads); a body announced bigger (Content-Length) is refused before it is read.
FILE_UPLOAD_HANDLERS = ["activities.imports.uploads.LimitedUploadHandler"]
# An .xlsx is a zip: before openpyxl parses it, no member may unpack to more than this (bytes)...
SALESTRACK_XLSX_MAX_MEMBER_BYTES = env.int("SALESTRACK_XLSX_MAX_MEMBER_BYTES", default=1024 * 1024 * 1024)
# ... nor all members together to more than this (bytes) ...
SALESTRACK_XLSX_MAX_TOTAL_BYTES = env.int("SALESTRACK_XLSX_MAX_TOTAL_BYTES", default=2 * 1024 * 1024 * 1024)
# ... nor unpack to more than this many times its compressed size (real workbooks stay well under 100,
# a decompression bomb is near deflate's 1,000).
SALESTRACK_XLSX_MAX_RATIO = env.int("SALESTRACK_XLSX_MAX_RATIO", default=250)
if min(SALESTRACK_XLSX_MAX_MEMBER_BYTES, SALESTRACK_XLSX_MAX_TOTAL_BYTES, SALESTRACK_XLSX_MAX_RATIO) < 1:
    raise ImproperlyConfigured("SALESTRACK_XLSX_MAX_* must be positive")

# --- outages of Redis and the database (issue 10) ---
# How long a call to Redis (cache, broker, results) may wait to connect or for an answer
# (seconds): with Redis down a save, an API write or a page still answers well under a second.
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=0.5)
if not 0 < REDIS_TIMEOUT_SECONDS <= 30:
    raise ImproperlyConfigured("REDIS_TIMEOUT_SECONDS must be more than 0 and at most 30")
# A web request sends a task with one quick retry (salestrack.outages.publish): a dead broker
# costs milliseconds, the changed-day marks wait in the database, and housekeeping sends the run
# once Redis is back. No max_retries here: the worker needs its own reconnect retries to survive
# an outage (with max_retries 0, a worker holding an unacknowledged message exits).
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT_SECONDS
if REDIS_URL:
    # The cache's calls fail fast too; throttles and the debounce then go on without it.
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
    }
# An import job still "queued" this long after its upload (the broker was down) is sent again
# by the import housekeeping; the job's compare-and-set claim keeps it from running twice.
SALESTRACK_IMPORT_REQUEUE_MINUTES = env.int("SALESTRACK_IMPORT_REQUEUE_MINUTES", default=10)
if SALESTRACK_IMPORT_REQUEUE_MINUTES < 1:
    raise ImproperlyConfigured("SALESTRACK_IMPORT_REQUEUE_MINUTES must be at least 1")
# A view that loses the database answers 503 with Retry-After, not 500. Last, so that it sees a
# view's exception first; failures in other middleware reach handler500 (salestrack.outages).
MIDDLEWARE.append("salestrack.outages.DatabaseUnavailableMiddleware")
# The Retry-After (seconds) of the 503 answered while the database is unreachable.
SALESTRACK_RETRY_AFTER_SECONDS = env.int("SALESTRACK_RETRY_AFTER_SECONDS", default=10)
if SALESTRACK_RETRY_AFTER_SECONDS < 1:
    raise ImproperlyConfigured("SALESTRACK_RETRY_AFTER_SECONDS must be at least 1")

# --- security (issue 10) ---
# Sign-in lock-out (django-axes) on the sign-in page and the admin: after this many wrong
# passwords for one username from one address, that pair is refused for the cool-off.
SALESTRACK_LOGIN_FAILURE_LIMIT = env.int("SALESTRACK_LOGIN_FAILURE_LIMIT", default=10)
if SALESTRACK_LOGIN_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("SALESTRACK_LOGIN_FAILURE_LIMIT must be at least 1")
SALESTRACK_LOGIN_COOLOFF_MINUTES = env.int("SALESTRACK_LOGIN_COOLOFF_MINUTES", default=15)
if SALESTRACK_LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("SALESTRACK_LOGIN_COOLOFF_MINUTES must be at least 1")
# API tokens: after this many failed token authentications from one address, that address is
# refused every token (429) until the cool-off above has passed since its last failure.
SALESTRACK_TOKEN_FAILURE_LIMIT = env.int("SALESTRACK_TOKEN_FAILURE_LIMIT", default=20)
if SALESTRACK_TOKEN_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("SALESTRACK_TOKEN_FAILURE_LIMIT must be at least 1")
# Addresses or networks of the reverse proxies in front of the app (comma-separated). Only a
# request from one of them has its client address read from X-Forwarded-For; otherwise a client
# could name any address in that header and never be locked out.
try:
    SALESTRACK_TRUSTED_PROXIES = [
        ip_network(item.strip(), strict=False)
        for item in env.list("SALESTRACK_TRUSTED_PROXIES", default=[])
        if item.strip()
    ]
except ValueError as error:
    raise ImproperlyConfigured(
        f"SALESTRACK_TRUSTED_PROXIES must list IP addresses or networks: {error}"
    ) from None
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username + address before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = SALESTRACK_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SALESTRACK_LOGIN_COOLOFF_MINUTES)
# The pair: a stranger elsewhere cannot lock a colleague out by trying their name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "salestrack.security.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "salestrack.security.lockout_response"
# Failures are counted in the database (AccessAttempt), so they survive a Redis outage and are
# shared by every web process.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# No start-up banner on every command; failures and lock-outs are still logged.
AXES_VERBOSE = False

# A signed-in session left idle this long is signed out on its next request
# (salestrack.security.IdleSessionTimeoutMiddleware).
SALESTRACK_SESSION_IDLE_MINUTES = env.int("SALESTRACK_SESSION_IDLE_MINUTES", default=480)
if SALESTRACK_SESSION_IDLE_MINUTES < 1:
    raise ImproperlyConfigured("SALESTRACK_SESSION_IDLE_MINUTES must be at least 1")

# The worker's supervisor (manage.py run_worker) pings its worker this often (seconds), and
# replaces it after this many pings missed in a row while the broker answers.
SALESTRACK_WORKER_PING_SECONDS = env.float("SALESTRACK_WORKER_PING_SECONDS", default=30.0)
SALESTRACK_WORKER_PING_MISSES = env.int("SALESTRACK_WORKER_PING_MISSES", default=3)
if SALESTRACK_WORKER_PING_SECONDS <= 0 or SALESTRACK_WORKER_PING_MISSES < 1:
    raise ImproperlyConfigured(
        "SALESTRACK_WORKER_PING_SECONDS must be above 0 and SALESTRACK_WORKER_PING_MISSES at least 1"
    )

# Content-Security-Policy (django-csp) on every page, admin and API docs included: scripts and
# styles only from our own static files, no 'unsafe-inline' for either. plotly.js's global rules
# come from static/vendor/plotly/plotly.css (its inline <style> is skipped, see the dashboard
# template); the styles it sets on elements go through the CSSOM, which CSP allows. data: and
# blob: images are the inline icon and Plotly's PNG download.
# The one inline style allowed, by its hash: django-simple-history's admin history page writes
# style="border-top: 0" on its paginator ('unsafe-hashes' lets exactly that attribute through).
CSP_HISTORY_PAGINATOR_STYLE = "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_HASHES, CSP_HISTORY_PAGINATOR_STYLE],
        "img-src": [SELF, "data:", "blob:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Eager tasks run inside the command or request that queued them: one "Task … succeeded"
        # line per metrics chunk would bury an import's report. A worker logs them as usual.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preload only takes effect once the domain is submitted to hstspreload.org.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

if SALESTRACK_ENV == "test":
    # Speed knobs only: behaviour stays the same as in development.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
