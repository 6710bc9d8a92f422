"""Settings for the test suite: SQLite by default, any database via DATABASE_URL."""

import importlib.util
import os

import environ

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"


def database_settings(url):
    """Return a ``DATABASES`` entry for ``url`` with what docs/databases.md asks for.

    SQLite: IMMEDIATE transactions and a busy timeout, so concurrent drains
    wait for the write lock instead of failing with "database is locked".
    MySQL/MariaDB: a utf8mb4 connection (Django's default since 5.2, said
    here anyway: utf8 is the three-byte utf8mb3, which cannot store emoji)
    and test databases created in utf8mb4 whatever the server's default.
    """
    config = environ.Env.db_url_config(url)
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"] == "django.db.backends.sqlite3":
        options.update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    elif config["ENGINE"] == "django.db.backends.mysql":
        options.setdefault("charset", "utf8mb4")
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


DATABASES = {
    "default": database_settings(os.environ.get("DATABASE_URL", "sqlite:///:memory:"))
}
# Parallel runs against one server (or a file-backed SQLite for multi-process
# tests) pick their own test database name.
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("SMS_TEST_DB_NAME")

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
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
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
if importlib.util.find_spec("django_tasks_db"):
    # The database task backend's table, for the task worker tests.
    INSTALLED_APPS.append("django_tasks_db")
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"

SMS_BACKEND = "sms.backends.locmem.SmsBackend"
SMS_OUTBOX_BACKEND = "sms.backends.locmem.SmsBackend"
