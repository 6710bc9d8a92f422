"""A site's own manage.py commands, in real processes: what a new user sees.

Each test writes a settings module in a temporary directory and runs
``python -m django`` with it: ``check``, ``migrate``, ``runserver``,
``send_queued_sms``, on a SQLite file that starts without tables.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = """
SECRET_KEY = "site-commands-tests-only"
DEBUG = True
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "sms",
                  "sms_outbox"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                           "NAME": {database!r},
                           "OPTIONS": {{"transaction_mode": "IMMEDIATE",
                                        "timeout": 20}}}}}}
ROOT_URLCONF = "site_urls"
SMS_BACKEND = "sms_outbox.backends.QueuedSmsBackend"
SMS_OUTBOX_BACKEND = "sms.backends.console.SmsBackend"
DEFAULT_FROM_SMS = "+12065550100"
"""
# The quick start's Twilio settings, with the credentials missing.
WITHOUT_CREDENTIALS = """
SMS_OUTBOX_BACKEND = "sms.backends.twilio.SmsBackend"
"""
MISSING_SID = (
    "(sms_outbox.E003) sms.backends.twilio.SmsBackend needs the "
    "TWILIO_ACCOUNT_SID setting, which is not set."
)
# Every migration is unapplied: the count grows with the app, the first is known.
UNAPPLIED = re.compile(
    r"\(sms_outbox\.W008\) The outbox's database 'default' has \d+ unapplied "
    r"sms_outbox migrations \(0001_initial, "
)


def site(tmp_path: Path, extra: str = "") -> Path:
    """Write the site's settings and URLconf in ``tmp_path``; return it."""
    database = str(tmp_path / "db.sqlite3")
    text = SETTINGS.format(database=database) + textwrap.dedent(extra)
    (tmp_path / "site_settings.py").write_text(text)
    (tmp_path / "site_urls.py").write_text("urlpatterns = []\n")
    return tmp_path


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "site_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``manage.py *args`` for the site; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def runserver_checks(tmp_path: Path) -> tuple[int | None, str]:
    """Start ``runserver``; return its exit status (None: it serves) and output.

    A server that passes its checks is stopped once it says it is starting.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", "--noreload", "127.0.0.1:0"],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Quit the server with" in line:
                return None, "".join(output)
        return process.wait(timeout=60), "".join(output)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=60)
        process.stdout.close()


def test_check_runserver_and_migrate_report_missing_credentials(tmp_path):
    """The site cannot start or migrate while the queue could not be delivered."""
    site(tmp_path, WITHOUT_CREDENTIALS)
    checked = manage(tmp_path, "check")
    assert checked.returncode == 1
    assert MISSING_SID in checked.stderr
    status, output = runserver_checks(tmp_path)
    assert status == 1, output
    assert MISSING_SID in output
    migrated = manage(tmp_path, "migrate")
    assert migrated.returncode == 1
    assert MISSING_SID in migrated.stderr
    assert "Applying" not in migrated.stdout


def test_a_forgotten_migrate_is_reported_until_it_is_run(tmp_path):
    site(tmp_path)
    # A plain check is the same whatever the database holds.
    checked = manage(tmp_path, "check")
    assert (checked.returncode, checked.stderr) == (0, "")
    checked = manage(tmp_path, "check", "--database", "default")
    assert checked.returncode == 0
    assert UNAPPLIED.search(checked.stderr), checked.stderr
    status, output = runserver_checks(tmp_path)
    assert status is None, output
    assert "Your project may not work properly until you apply the migrations " in (
        " ".join(output.split())
    )
    assert "sms_outbox" in output.split("unapplied migration(s)", 1)[1]
    drained = manage(tmp_path, "send_queued_sms", "--loop", "-v", "0")
    assert drained.returncode == 1
    assert drained.stderr.endswith(
        "CommandError: The outbox's tables are missing from the database "
        "'default' (no such table: sms_outbox_message): run `python manage.py "
        "migrate` to create them.\n"
    )
    migrated = manage(tmp_path, "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    # Not told to run the migrate it is running.
    assert "W008" not in migrated.stderr, migrated.stderr
    checked = manage(tmp_path, "check", "--database", "default")
    assert (checked.returncode, checked.stderr) == (0, "")
    drained = manage(tmp_path, "send_queued_sms", "-v", "0")
    assert (drained.returncode, drained.stdout, drained.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "database",
    [
        '{"ENGINE": "django.db.backends.sqlite3", "NAME": "/no/such/dir/db.sqlite3"}',
        # Nothing listens on port 9: the server refuses the connection.
        '{"ENGINE": "django.db.backends.postgresql", "NAME": "app", "USER": "app", '
        '"HOST": "127.0.0.1", "PORT": 9}',
    ],
    ids=["sqlite", "postgresql"],
)
def test_an_unreachable_database_does_not_break_the_checks(tmp_path, database):
    """A build step without its database (collectstatic, check) runs on."""
    site(tmp_path, f'DATABASES["default"] = {database}\n')
    checked = manage(tmp_path, "check", "--database", "default")
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0,
        "System check identified no issues (0 silenced).\n",
        "",
    )
