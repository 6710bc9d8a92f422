"""Settings for the test suite: SQLite by default, any database via DATABASE_URL."""

import importlib.util
import os

import environ

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": environ.Env.db_url_config(
        os.environ.get("DATABASE_URL", "sqlite:///:memory:")
    )
}
# Parallel runs against one server (or a file-backed SQLite for multi-process
# tests) pick their own test database name.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SMS_TEST_DB_NAME")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # What the outbox documents for SQLite: concurrent drains wait for the
    # write lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
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
