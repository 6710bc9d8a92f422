"""Settings for outbox child processes: a shared database named by the environment.

``OUTBOX_DB`` is a database URL (PostgreSQL, MySQL/MariaDB) or a SQLite file
path; ``OUTBOX_BACKEND`` the delivering backend (default: the recording test
backend).
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import database_settings

_db = os.environ["OUTBOX_DB"]
if "://" in _db:
    DATABASES = {"default": database_settings(_db)}
    if "OUTBOX_PREPARE_THRESHOLD" in os.environ and _db.startswith("postgres"):
        # Prepared statements, as docs/databases.md shows (benchmarks/compare.py).
        DATABASES["default"]["OPTIONS"].update(
            server_side_binding=True,
            prepare_threshold=int(os.environ["OUTBOX_PREPARE_THRESHOLD"]),
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # As docs/databases.md recommends for SQLite (the benchmark uses it).
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }
SMS_OUTBOX_BACKEND = os.environ.get(
    "OUTBOX_BACKEND", "tests.support.outbox_backends.RecordingBackend"
)
SMS_OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))
SMS_OUTBOX_RETRY_DELAY = float(os.environ.get("OUTBOX_RETRY_DELAY", "60"))
SMS_OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "5"))

# The account's rate, shared by the drains (tests/outbox/test_rate.py), and
# the fake Twilio's credentials (tests.support.outbox_backends.FakeTwilioBackend).
if "OUTBOX_RATE" in os.environ:
    SMS_OUTBOX_RATE = float(os.environ["OUTBOX_RATE"])
if "OUTBOX_MAX_IN_FLIGHT" in os.environ:
    SMS_OUTBOX_MAX_IN_FLIGHT = int(os.environ["OUTBOX_MAX_IN_FLIGHT"])
TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "fake-twilio-auth-token-5e1f"

# Fault-test knobs (tests/outbox/drain/test_faults.py, benchmarks/chaos.py).
SMS_TIMEOUT = float(os.environ.get("OUTBOX_TIMEOUT", "1"))
if "OUTBOX_ACCOUNT_ERROR_DELAY" in os.environ:
    SMS_OUTBOX_ACCOUNT_ERROR_DELAY = float(os.environ["OUTBOX_ACCOUNT_ERROR_DELAY"])
if "OUTBOX_APP_NAME" in os.environ and "://" in _db:
    # Lets a test find this process's connections in pg_stat_activity.
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ[
        "OUTBOX_APP_NAME"
    ]
