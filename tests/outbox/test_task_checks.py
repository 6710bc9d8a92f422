"""The system checks of SMS_OUTBOX_TASK."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.core import checks
from django.test import SimpleTestCase, override_settings

from sms_outbox.checks import check_task_settings
from tests.support.tasks import DUMMY, FRAMEWORK, IMMEDIATE

DATABASE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class TaskCheckTests(SimpleTestCase):
    def test_disabled_is_silent(self):
        self.assertEqual(check_task_settings(), [])

    @override_settings(TASKS=DATABASE, SMS_OUTBOX_TASK={"enabled": True})
    def test_database_backend_is_silent(self):
        self.assertEqual(check_task_settings(), [])

    @override_settings(SMS_OUTBOX_TASK={"enabled": "yes"})
    def test_invalid_setting(self):
        self.assertEqual(
            check_task_settings(),
            [
                checks.Error(
                    "SMS_OUTBOX_TASK is invalid: 'enabled' must be True or False.",
                    hint="See docs/tasks.md ('Task workers') for the keys.",
                    id="sms_outbox.E010",
                )
            ],
        )

    @override_settings(
        TASKS=DUMMY, SMS_OUTBOX_TASK={"enabled": True, "backend": "outbox"}
    )
    def test_unknown_backend_alias(self):
        self.assertEqual(
            check_task_settings(),
            [
                checks.Error(
                    "SMS_OUTBOX_TASK names the task backend 'outbox', which TASKS "
                    "does not define.",
                    hint="Add 'outbox' to TASKS or set 'backend' to one of "
                    "['default'].",
                    id="sms_outbox.E011",
                )
            ],
        )

    @override_settings(
        TASKS=DUMMY, SMS_OUTBOX_TASK={"enabled": True, "queue_name": "sms"}
    )
    def test_queue_the_backend_does_not_serve(self):
        self.assertEqual(
            check_task_settings(),
            [
                checks.Error(
                    "SMS_OUTBOX_TASK uses the queue 'sms', which the task backend "
                    "'default' does not serve: every wake-up would fail.",
                    hint="Add 'sms' to QUEUES of TASKS['default'] or set "
                    "'queue_name' to one of its queues.",
                    id="sms_outbox.E012",
                )
            ],
        )

    @override_settings(TASKS=IMMEDIATE, SMS_OUTBOX_TASK={"enabled": True})
    def test_backend_without_run_after(self):
        self.assertEqual(
            check_task_settings(),
            [
                checks.Warning(
                    "The task backend 'default' (ImmediateBackend) does not support "
                    "run_after: each commit that queues SMS enqueues its own drain, "
                    "and retries and send_after rows get no wake-up.",
                    hint="Keep a periodic send_queued_sms (cron) for retries and "
                    "scheduled SMS, or use a backend with deferred tasks such as "
                    "django_tasks_db.DatabaseBackend.",
                    id="sms_outbox.W010",
                )
            ],
        )

    @override_settings(
        TASKS={"default": {"BACKEND": "tests.outbox.test_task_checks.PlainBackend"}},
        SMS_OUTBOX_TASK={"enabled": True, "priority": 10},
    )
    def test_backend_without_priorities(self):
        found = check_task_settings()
        self.assertEqual(
            [message.id for message in found], ["sms_outbox.W010", "sms_outbox.W011"]
        )
        self.assertEqual(
            found[1],
            checks.Warning(
                "SMS_OUTBOX_TASK sets priority 10 but the task backend 'default' "
                "(PlainBackend) does not support priorities: it is ignored.",
                hint="Remove 'priority' from SMS_OUTBOX_TASK or use a backend "
                "that supports priorities.",
                id="sms_outbox.W011",
            ),
        )

    @override_settings(TASKS=IMMEDIATE, SMS_OUTBOX_TASK={"enabled": True})
    def test_registered(self):
        found = checks.run_checks()
        self.assertIn("sms_outbox.W010", [message.id for message in found])


def _plain_backend():
    import importlib

    base = importlib.import_module(f"{FRAMEWORK}.backends.base").BaseTaskBackend

    class PlainBackend(base):
        """Follows the API, defers nothing and ignores priorities."""

        def enqueue(self, task, args, kwargs):
            raise NotImplementedError

    return PlainBackend


PlainBackend = _plain_backend()


# Run where neither django.tasks nor django_tasks can be imported.
WITHOUT_TASKS = """
import json, sys
sys.modules["django.tasks"] = sys.modules["django_tasks"] = None
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["sms", "sms_outbox"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    SMS_OUTBOX_TASK={"enabled": True},
)
django.setup()
from sms_outbox.checks import check_task_settings
found = check_task_settings()
print(json.dumps([[type(m).__name__, m.msg, m.hint, m.id] for m in found]))
"""


def test_enabled_without_the_tasks_package():
    """E010 names the missing package, not "this SMS backend"."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TASKS],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = [
        getattr(checks, kind)(msg, hint=hint, id=id_)
        for kind, msg, hint, id_ in json.loads(done.stdout)
    ]
    assert found == [
        checks.Error(
            "SMS_OUTBOX_TASK is enabled, but neither django.tasks (Django 6) nor "
            "the django-tasks backport (Django 5.2) can be imported: no drain task "
            "can be enqueued, so send_sms() refuses to queue.",
            hint='Install the backport with: pip install "django-sms[outbox-tasks]", '
            'or set SMS_OUTBOX_TASK = {"enabled": False} and run send_queued_sms '
            "from cron or as a worker.",
            id="sms_outbox.E010",
        )
    ]
