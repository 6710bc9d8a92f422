"""The example project's settings: built from the environment alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sms.conf import DEFAULTS

REPO = Path(__file__).resolve().parents[2]
SETTINGS_FILE = REPO / "example_project" / "settings.py"
ENV_EXAMPLE = REPO / ".env.example"

DUMP = """
import json
import django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SMS_BACKEND", "SMS_OUTBOX_BACKEND",
         "DEFAULT_FROM_SMS", "INSTALLED_APPS", "SMS_OUTBOX_MAX_ATTEMPTS",
         "SMS_MAX_SEGMENTS", "TWILIO_ACCOUNT_SID"]
out = {name: getattr(s, name, None) for name in names}
db = s.DATABASES["default"]
out["DB"] = {"ENGINE": db["ENGINE"], "NAME": str(db["NAME"]),
             "OPTIONS": db.get("OPTIONS", {})}
print(json.dumps(out))
"""


def _run(args, tmp_path, **env):
    """Run Python in the repo with only ``env`` (plus PATH) in the environment."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        # Never read a developer's own .env.
        "ENV_FILE": str(tmp_path / "absent.env"),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _settings(tmp_path, **env):
    result = _run(["-c", DUMP], tmp_path, **env)
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
        "NAME": str(REPO / "example.sqlite3"),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }
    # Library defaults are left to the library.
    assert values["SMS_OUTBOX_MAX_ATTEMPTS"] is None


def test_the_system_checks_pass_with_debug_on(tmp_path):
    result = _run(
        ["manage.py", "check", "--fail-level", "WARNING"], tmp_path, DEBUG="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    result = _run(["manage.py", "check"], tmp_path)
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
    missing = (read_by_settings | set(DEFAULTS) | {"DEMO_ADMIN_PASSWORD"}) - listed
    assert not missing, f".env.example does not list {sorted(missing)}"
