"""Settings for a child process whose outbox lives in a database of its own.

``default`` is a SQLite file (``ROUTED_DEFAULT_DB``) that never gets the
outbox's tables; ``outbox`` is ``OUTBOX_DB`` (a database URL or a SQLite
file), where a router sends everything of the app ``sms_outbox``.
"""

import os

from tests.support.proc_settings import *  # noqa: F403
from tests.support.proc_settings import DATABASES as _PROC_DATABASES

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["ROUTED_DEFAULT_DB"],
    },
    "outbox": _PROC_DATABASES["default"],
}
DATABASE_ROUTERS = ["tests.support.routed_settings.OutboxRouter"]
SMS_OUTBOX_BACKEND = "tests.support.outbox_backends.ScriptedBackend"
SMS_OUTBOX_MAX_ATTEMPTS = 2


class OutboxRouter:
    """Send the outbox's reads, writes and migrations to ``outbox``, only there."""

    def db_for_read(self, model, **hints):
        return "outbox" if model._meta.app_label == "sms_outbox" else None

    db_for_write = db_for_read

    def allow_migrate(self, db, app_label, **hints):
        if app_label == "sms_outbox":
            return db == "outbox"
        return None
