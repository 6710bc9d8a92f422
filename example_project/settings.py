"""Settings of the example project, read only from the environment (and `.env`).

Every variable is listed with a comment in `.env.example`. `DEBUG` is off unless
the environment turns it on; only then do development defaults apply (a
throwaway `SECRET_KEY`, local hosts, plain HTTP). With `DEBUG` off a missing
`SECRET_KEY` stops the start-up with `ImproperlyConfigured`, and the HTTPS
settings default to what `manage.py check --deploy` asks for.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from sms.conf import DEFAULTS as SMS_DEFAULTS
from sms_outbox.conf import DEFAULTS as OUTBOX_DEFAULTS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file: read_env() only fills gaps.
# ENV_FILE points at another file (the tests use it to ignore a developer's .env).
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-example-project-only")
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"]
    )
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off: set SECRET_KEY in the "
            "environment or in .env (a long random string, for example from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), "
            "or set DEBUG=1 for local development."
        )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

# Behind a reverse proxy that terminates TLS: trust its X-Forwarded-Proto and
# accept form posts (the admin's login) from the public origin.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS only, unless DEBUG is on (the development server speaks plain HTTP).
# These defaults make `manage.py check --deploy` clean; each can be turned down
# from the environment, e.g. SECURE_HSTS_SECONDS=3600 while trying HTTPS out.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'example.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent drains take the write lock up front (BEGIN IMMEDIATE) and wait
    # for it instead of failing with "database is locked"; WAL lets readers
    # (the demo page, the admin) work while a drain writes, and makes every
    # write cheaper.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("transaction_mode", "IMMEDIATE")
    _options.setdefault("timeout", 20)
    _options.setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "sms",
    "sms_outbox",
    "example_project.demo",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# SMS: send_sms() queues in the outbox; send_queued_sms delivers through
# SMS_OUTBOX_BACKEND (the console by default, so nothing leaves the machine).
SMS_BACKEND = env.str("SMS_BACKEND", default="sms_outbox.backends.QueuedSmsBackend")
SMS_OUTBOX_BACKEND = env.str(
    "SMS_OUTBOX_BACKEND", default="sms.backends.console.SmsBackend"
)
DEFAULT_FROM_SMS = env.str("DEFAULT_FROM_SMS", default="DjangoSMS")
# Send guards (docs/guards.md): the demo texts any country and logs each SMS
# with its destination; a real site allows its own countries and blocks "*".
SMS_GUARDS = {"countries": {"*": "monitor"}}

# Every other setting the library reads (sms.conf.DEFAULTS and
# sms_outbox.conf.DEFAULTS) is taken from the
# environment when present there, cast like its default; absent, the library
# default applies.
_INTEGER_SETTINGS = {"SMS_MAX_SEGMENTS"}
for _name, _default in {**SMS_DEFAULTS, **OUTBOX_DEFAULTS}.items():
    if _name in globals() or _name not in env:
        continue
    if isinstance(_default, bool):
        _cast = bool
    elif isinstance(_default, int) or _name in _INTEGER_SETTINGS:
        _cast = int
    elif isinstance(_default, float):
        _cast = float
    elif isinstance(_default, tuple):
        _cast = list  # comma-separated
    else:
        _cast = str
    globals()[_name] = env.get_value(_name, cast=_cast)

# The demo page: SMS one staff user may queue from it per minute (default 10,
# in example_project/demo/limits.py).
if "DEMO_SMS_PER_MINUTE" in env:
    DEMO_SMS_PER_MINUTE = env.str("DEMO_SMS_PER_MINUTE")
    if not DEMO_SMS_PER_MINUTE.isdigit() or int(DEMO_SMS_PER_MINUTE) < 1:
        raise ImproperlyConfigured(
            f"DEMO_SMS_PER_MINUTE is {DEMO_SMS_PER_MINUTE!r}: set it to a whole "
            "number of 1 or more (the SMS one user may queue from the demo page "
            "per minute), or remove it for the default of 10."
        )
    DEMO_SMS_PER_MINUTE = int(DEMO_SMS_PER_MINUTE)

# Everything goes to stderr (StreamHandler's default), phone numbers masked
# by sms.masking.MaskNumbers in the message and the traceback. "django"
# covers django.request: with DEBUG off a 500 is logged here with its
# traceback, where Django's default would only mail ADMINS.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_numbers": {"()": "sms.masking.MaskNumbers"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["mask_numbers"],
            "formatter": "plain",
        }
    },
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING"},
        "sms": {"handlers": ["console"], "level": env.str("SMS_LOG_LEVEL", "INFO")},
        "sms_outbox": {
            "handlers": ["console"],
            "level": env.str("SMS_LOG_LEVEL", "INFO"),
        },
    },
}
