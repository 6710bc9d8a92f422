"""The example project's settings: built from the environment alone."""

from __future__ import annotations

import json
import re

from sms.conf import DEFAULTS as SMS_DEFAULTS
from sms_outbox.conf import DEFAULTS as OUTBOX_DEFAULTS
from tests.support.processes import ROOT, run_example

DEFAULTS = {**SMS_DEFAULTS, **OUTBOX_DEFAULTS}

SETTINGS_FILE = ROOT / "example_project" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"

DUMP = """
import json
import django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SMS_BACKEND", "SMS_OUTBOX_BACKEND",
         "DEFAULT_FROM_SMS", "INSTALLED_APPS", "SMS_OUTBOX_MAX_ATTEMPTS",
         "SMS_MAX_SEGMENTS", "TWILIO_ACCOUNT_SID", "DEMO_SMS_PER_MINUTE",
         "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
         "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER"]
out = {name: getattr(s, name, None) for name in names}
db = s.DATABASES["default"]
out["DB"] = {"ENGINE": db["ENGINE"], "NAME": str(db["NAME"]),
             "OPTIONS": db.get("OPTIONS", {})}
print(json.dumps(out))
"""


def _settings(tmp_path, **env):
    result = run_example(["-c", DUMP], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_builds_from_an_empty_environment_with_debug_on(tmp_path):
    values = _settings(tmp_path, DEBUG="1")
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert values["SMS_BACKEND"] == "sms_outbox.backends.QueuedSmsBackend"
    assert values["SMS_OUTBOX_BACKEND"] == "sms.backends.console.SmsBackend"
    assert {"django.contrib.admin", "sms", "sms_outbox", "example_project.demo"} <= set(
        values["INSTALLED_APPS"]
    )
    assert values["DB"] == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(ROOT / "example.sqlite3"),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }
    # Library defaults are left to the library.
    assert values["SMS_OUTBOX_MAX_ATTEMPTS"] is None


def test_the_system_checks_pass_with_debug_on(tmp_path):
    result = run_example(
        ["manage.py", "check", "--fail-level", "WARNING"], tmp_path, DEBUG="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    result = run_example(["manage.py", "check"], tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set and DEBUG is off" in (
        result.stderr
    )


def test_debug_off_takes_secret_key_and_hosts_from_the_environment(tmp_path):
    values = _settings(
        tmp_path, SECRET_KEY="s" * 50, ALLOWED_HOSTS="sms.example.com,example.com"
    )
    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "s" * 50
    assert values["ALLOWED_HOSTS"] == ["sms.example.com", "example.com"]


HTTPS_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
]


def test_https_is_off_with_debug_on(tmp_path):
    values = _settings(tmp_path, DEBUG="1")
    assert [values[name] for name in HTTPS_SETTINGS] == [False] * 5
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_https_is_on_by_default_with_debug_off(tmp_path):
    values = _settings(tmp_path, SECRET_KEY="s" * 50)
    assert [values[name] for name in HTTPS_SETTINGS] == [True] * 5
    assert values["SECURE_HSTS_SECONDS"] == 31536000


def test_https_settings_are_read_from_the_environment(tmp_path):
    values = _settings(
        tmp_path,
        SECRET_KEY="s" * 50,
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="0",
        USE_X_FORWARDED_PROTO="1",
    )
    assert [values[name] for name in HTTPS_SETTINGS] == [False] * 5
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_demo_sms_per_minute_is_read_from_the_environment(tmp_path):
    assert _settings(tmp_path, DEBUG="1")["DEMO_SMS_PER_MINUTE"] is None
    values = _settings(tmp_path, DEBUG="1", DEMO_SMS_PER_MINUTE="25")
    assert values["DEMO_SMS_PER_MINUTE"] == 25


def test_a_bad_demo_sms_per_minute_stops_the_start_up(tmp_path):
    for value in ["0", "ten", "-1"]:
        result = run_example(
            ["manage.py", "check"], tmp_path, DEBUG="1", DEMO_SMS_PER_MINUTE=value
        )
        assert result.returncode != 0
        assert (
            f"ImproperlyConfigured: DEMO_SMS_PER_MINUTE is {value!r}: set it to a "
            "whole number of 1 or more"
        ) in result.stderr


def test_reads_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "DEBUG=1\n"
        "SMS_OUTBOX_BACKEND=sms.backends.twilio.SmsBackend\n"
        "TWILIO_ACCOUNT_SID=AC123\n"
        "SMS_OUTBOX_MAX_ATTEMPTS=7\n"
        "SMS_MAX_SEGMENTS=3\n"
        "DEFAULT_FROM_SMS=+12065550100\n"
        "DATABASE_URL=postgres://app:secret@db.example.com:5432/app\n"
    )
    values = _settings(tmp_path, ENV_FILE=str(env_file), DEFAULT_FROM_SMS="ExampleCo")
    assert values["DEBUG"] is True
    assert values["SMS_OUTBOX_BACKEND"] == "sms.backends.twilio.SmsBackend"
    assert values["TWILIO_ACCOUNT_SID"] == "AC123"
    assert values["SMS_OUTBOX_MAX_ATTEMPTS"] == 7
    assert values["SMS_MAX_SEGMENTS"] == 3
    assert values["DEFAULT_FROM_SMS"] == "ExampleCo"
    assert values["DB"]["ENGINE"] == "django.db.backends.postgresql"
    assert values["DB"]["NAME"] == "app"
    # The SQLite-only options are not forced on other databases.
    assert "transaction_mode" not in values["DB"]["OPTIONS"]


def test_env_example_builds_a_development_site(tmp_path):
    values = _settings(tmp_path, ENV_FILE=str(ENV_EXAMPLE))
    assert values["DEBUG"] is True
    assert values["SMS_BACKEND"] == "sms_outbox.backends.QueuedSmsBackend"


def test_env_example_lists_every_variable():
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    read_by_settings = set(
        re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS_FILE.read_text())
    )
    assert read_by_settings
    assert {"SECURE_HSTS_SECONDS", "DEMO_SMS_PER_MINUTE"} <= read_by_settings
    missing = (read_by_settings | set(DEFAULTS) | {"DEMO_ADMIN_PASSWORD"}) - listed
    assert not missing, f".env.example does not list {sorted(missing)}"
