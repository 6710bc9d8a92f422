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
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # As the README recommends for SQLite (the benchmark uses it).
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }
SMS_OUTBOX_BACKEND = os.environ.get(
    "OUTBOX_BACKEND", "tests.outbox.fakes.RecordingBackend"
)
SMS_OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))
SMS_OUTBOX_RETRY_DELAY = float(os.environ.get("OUTBOX_RETRY_DELAY", "60"))
SMS_OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "5"))
SMS_TIMEOUT = float(os.environ.get("OUTBOX_TIMEOUT", "1"))
