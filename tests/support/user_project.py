"""A user's project in a temporary directory, tested in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A site that sends through Twilio: without the test hooks, its tests would
# call api.twilio.com. The credentials are made up.
SETTINGS = """
SECRET_KEY = "user-project-tests-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "sms"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SMS_BACKEND = "sms.backends.twilio.SmsBackend"
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "made-up"
DEFAULT_FROM_SMS = "+12065550100"
"""


def write_project(tmp_path: Path, tests: str, settings: str = "") -> Path:
    """Write ``user_settings.py`` and ``test_user.py`` in ``tmp_path``."""
    (tmp_path / "user_settings.py").write_text(SETTINGS + textwrap.dedent(settings))
    (tmp_path / "test_user.py").write_text(textwrap.dedent(tests))
    return tmp_path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``python *args`` in ``tmp_path`` with this checkout importable.

    No proxy variable leaks in and api.twilio.com resolves to a closed port on
    127.0.0.1, so a test that reached Twilio would fail, not send.
    """
    environ = {
        key: value
        for key, value in os.environ.items()
        if key != "DJANGO_SETTINGS_MODULE" and "proxy" not in key.lower()
    }
    environ["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    environ["HTTPS_PROXY"] = "http://127.0.0.1:9"
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
    )


def plugin_entry_point() -> metadata.EntryPoint | None:
    """Return the installed distribution's ``pytest11`` entry point, if any."""
    try:
        distribution = metadata.distribution("django-sms")
    except metadata.PackageNotFoundError:
        return None
    for entry_point in distribution.entry_points:
        if entry_point.group == "pytest11":
            return entry_point
    return None


def plugin_args() -> list[str]:
    """Return the pytest arguments that load the plugin in a child.

    When the installed django-sms declares the entry point, pytest loads the
    plugin by itself, and naming it again with ``-p`` would register it twice.
    """
    return (
        [] if plugin_entry_point() is not None else ["-p", "sms.testing.pytest_plugin"]
    )
