"""Settings for the task worker tests' processes: outbox drains run as django.tasks.

On top of ``tests.support.proc_settings``: the database task backend, queueing
through ``QueuedSmsBackend`` with ``SMS_OUTBOX_TASK`` on, and the recording
provider of ``tests.support.outbox_backends``.
"""

import os

from tests.support.proc_settings import *  # noqa: F403

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SMS_BACKEND = "sms_outbox.backends.QueuedSmsBackend"
SMS_OUTBOX_BACKEND = os.environ.get(
    "OUTBOX_BACKEND", "tests.support.outbox_backends.TimedRecordingBackend"
)
SMS_OUTBOX_TASK = {
    "enabled": True,
    "window": float(os.environ.get("OUTBOX_TASK_WINDOW", "0.2")),
}
