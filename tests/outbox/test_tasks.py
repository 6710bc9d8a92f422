"""drain_outbox and the wake-ups around it, with django.tasks' in-process backends."""

import datetime
import json

from django.core.cache import cache
from django.db import transaction
from django.test import SimpleTestCase, TransactionTestCase, override_settings
from django.utils import timezone

import sms
from sms.exceptions import (
    InvalidMessage,
    ProviderUnavailable,
    SmsConfigurationError,
    SmsImproperlyInstalled,
)
from sms_outbox.models import Message as OutboxMessage
from sms_outbox.tasks import drain_outbox, get_task_options, next_due, task_backends
from tests.support.outbox_backends import ScriptedBackend
from tests.support.tasks import DUMMY, FRAMEWORK, IMMEDIATE

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
SCRIPTED = "tests.support.outbox_backends.ScriptedBackend"
A, B = "+441134960000", "+441134960999"


def enqueued():
    """Return the wake-ups the dummy task backend holds, oldest first."""
    return list(task_backends["default"].results)


class TaskTestCase(TransactionTestCase):
    """Real commits (on_commit runs), a clean cache and a clean fake provider."""

    def setUp(self):
        cache.clear()
        self.addCleanup(cache.clear)
        ScriptedBackend.reset()
        sms.outbox = []
        # The handler keeps one backend per alias across override_settings.
        backend = task_backends["default"]
        if hasattr(backend, "results"):
            backend.clear()


@override_settings(
    TASKS=IMMEDIATE,
    SMS_BACKEND=QUEUED,
    SMS_OUTBOX_BACKEND=SCRIPTED,
    DEFAULT_FROM_SMS="Acme",
    SMS_OUTBOX_TASK={"enabled": True},
)
class ImmediateBackendTests(TaskTestCase):
    """The drain runs at commit, in the caller's process."""

    def test_send_sms_in_atomic_delivers_after_commit(self):
        with transaction.atomic():
            self.assertEqual(sms.send_sms("Hello", None, [A, B]), 1)
            self.assertEqual(ScriptedBackend.sent, [])
            self.assertEqual(OutboxMessage.objects.get(recipient=A).status, "queued")
        self.assertEqual(sorted(m.recipients[0] for m in ScriptedBackend.sent), [A, B])
        self.assertEqual(
            set(OutboxMessage.objects.values_list("status", flat=True)), {"sent"}
        )

    def test_nothing_is_delivered_on_rollback(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            sms.send_sms("Hello", None, [A])
            raise RuntimeError("the request failed")
        self.assertEqual(ScriptedBackend.sent, [])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_autocommit_delivers_each_send_at_once(self):
        for n in range(3):
            sms.send_sms(f"Hello {n}", None, [A])
            self.assertEqual(len(ScriptedBackend.sent), n + 1)

    def test_scheduled_rows_wait_for_a_periodic_run(self):
        later = timezone.now() + datetime.timedelta(hours=1)
        sms.send_sms(
            "Later", None, [A], connection=sms.get_connection(send_after=later)
        )
        self.assertEqual(ScriptedBackend.sent, [])
        self.assertEqual(OutboxMessage.objects.get().status, "queued")

    def test_a_bad_body_is_refused_before_any_drain(self):
        with self.assertRaises(InvalidMessage):
            sms.send_sms("bad\x00", None, [A])
        self.assertEqual(ScriptedBackend.sent, [])

    @override_settings(SMS_OUTBOX_TASK={"enabled": False})
    def test_disabled_enqueues_nothing(self):
        sms.send_sms("Hello", None, [A])
        self.assertEqual(ScriptedBackend.sent, [])
        self.assertEqual(OutboxMessage.objects.get().status, "queued")


@override_settings(
    TASKS=DUMMY,
    SMS_BACKEND=QUEUED,
    SMS_OUTBOX_BACKEND=SCRIPTED,
    DEFAULT_FROM_SMS="Acme",
    SMS_OUTBOX_TASK={"enabled": True, "window": 3600},
)
class BoundedWakeUpTests(TaskTestCase):
    """A backend with deferred tasks gets a bounded number of wake-ups."""

    def test_a_thousand_sends_enqueue_a_handful_of_tasks(self):
        for n in range(1000):
            sms.send_sms(f"Hello {n}", None, [A])
        tasks = enqueued()
        self.assertEqual(OutboxMessage.objects.count(), 1000)
        # One at once and one at the end of the hour; up to four if the
        # burst crossed an hour boundary.
        self.assertTrue(2 <= len(tasks) <= 4, tasks)
        self.assertIsNone(tasks[0].task.run_after)
        self.assertEqual(tasks[1].task.run_after.timestamp() % 3600, 0)

    def test_later_commits_share_a_wake_up_at_the_window_end(self):
        sms.send_sms("One", None, [A])
        sms.send_sms("Two", None, [B])
        first, second = enqueued()[:2]
        self.assertIsNone(first.task.run_after)
        self.assertEqual(second.task.run_after.timestamp() % 3600, 0)

    def test_wake_ups_carry_no_message_content(self):
        sms.send_sms("secret code 123456", None, [A])
        wake_ups = enqueued()
        self.assertTrue(wake_ups)
        for result in wake_ups:
            self.assertEqual((result.args, result.kwargs), ([], {}))
            self.assertEqual(result.task.name, "drain_outbox")

    def test_scheduled_rows_get_a_wake_up_at_their_time(self):
        later = timezone.now() + datetime.timedelta(days=2)
        connection_ = sms.get_connection(send_after=later)
        sms.send_sms("Later", None, [A], connection=connection_)
        sms.send_sms("Later too", None, [B], connection=connection_)
        (task,) = enqueued()
        self.assertGreater(task.task.run_after, later)
        self.assertLessEqual(task.task.run_after, later + datetime.timedelta(hours=1))

    def test_on_rollback_nothing_is_enqueued(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            sms.send_sms("Hello", None, [A])
            raise RuntimeError("the request failed")
        self.assertEqual(enqueued(), [])

    @override_settings(
        SMS_OUTBOX_TASK={"enabled": True, "queue_name": "sms", "priority": 5},
        TASKS={"default": {**DUMMY["default"], "QUEUES": ["default", "sms"]}},
    )
    def test_queue_and_priority_come_from_the_setting(self):
        sms.send_sms("Hello", None, [A])
        (task,) = enqueued()
        self.assertEqual((task.task.queue_name, task.task.priority), ("sms", 5))


@override_settings(
    TASKS=DUMMY,
    SMS_BACKEND=QUEUED,
    SMS_OUTBOX_BACKEND=SCRIPTED,
    DEFAULT_FROM_SMS="Acme",
    SMS_OUTBOX_TASK={"enabled": True, "window": 0.5},
    SMS_OUTBOX_RETRY_DELAY=30,
)
class DrainOutboxTests(TaskTestCase):
    def test_returns_json_counts(self):
        ScriptedBackend.reset({B: ProviderUnavailable("503")})
        with override_settings(SMS_OUTBOX_TASK={"enabled": False}):
            sms.send_mass_sms([("One", None, [A]), ("Two", None, [B])])
        counts = drain_outbox.call()
        self.assertEqual(json.loads(json.dumps(counts)), counts)
        self.assertEqual(
            (counts["sent"], counts["retrying"], counts["failed"], counts["error"]),
            (1, 1, 0, None),
        )

    def test_schedules_the_next_wake_up_for_a_retry(self):
        ScriptedBackend.reset({A: [ProviderUnavailable("503")]})
        with override_settings(SMS_OUTBOX_TASK={"enabled": False}):
            sms.send_sms("Hello", None, [A])
        counts = drain_outbox.call()
        row = OutboxMessage.objects.get()
        self.assertEqual((row.status, row.attempts), ("queued", 1))
        (task,) = enqueued()
        self.assertGreater(task.task.run_after, row.next_attempt_at)
        # The end of the 0.5 s window, rounded up to a whole second (RQ keeps
        # a job's start to the second, rounded down).
        self.assertLessEqual(
            task.task.run_after, row.next_attempt_at + datetime.timedelta(seconds=1)
        )
        self.assertEqual(task.task.run_after.microsecond, 0)
        self.assertEqual(counts["next_wake_up"], task.task.run_after.isoformat())

    def test_a_backlog_asks_one_more_worker_to_help(self):
        with override_settings(SMS_OUTBOX_TASK={"enabled": False}):
            sms.send_mass_sms([(f"Hi {n}", None, [A]) for n in range(2000)])
        counts = drain_outbox.call()
        self.assertEqual(counts["sent"], 2000)
        now_tasks = [t for t in enqueued() if t.task.run_after is None]
        self.assertEqual(len(now_tasks), 1, enqueued())

    def test_nothing_waiting_schedules_nothing(self):
        counts = drain_outbox.call()
        self.assertEqual((counts["sent"], counts["next_wake_up"]), (0, None))
        self.assertEqual(enqueued(), [])
        self.assertIsNone(next_due())


class TaskOptionTests(SimpleTestCase):
    def test_defaults(self):
        self.assertEqual(
            get_task_options(),
            {
                "enabled": False,
                "backend": "default",
                "queue_name": "default",
                "priority": 0,
                "window": 1.0,
                "cache": "default",
            },
        )

    def test_keys_override_the_defaults_one_by_one(self):
        with self.settings(SMS_OUTBOX_TASK={"enabled": True, "queue_name": "sms"}):
            options = get_task_options()
        self.assertEqual(
            (options["queue_name"], options["backend"]), ("sms", "default")
        )

    def test_invalid_values(self):
        cases = [
            ("on", "SMS_OUTBOX_TASK is 'on': set it to a dict"),
            ({"enable": True}, "SMS_OUTBOX_TASK is {'enable': True}: set it to a dict"),
            ({"enabled": "yes"}, "'enabled' must be True or False"),
            ({"priority": 101}, "'priority' must be a whole number from -100 to 100"),
            ({"window": 0}, "'window' must be a number of seconds above 0"),
            ({"queue_name": ""}, "'queue_name' must be a non-empty name"),
        ]
        for value, sentence in cases:
            with self.subTest(value=value), self.settings(SMS_OUTBOX_TASK=value):
                with self.assertRaisesMessage(SmsConfigurationError, sentence):
                    get_task_options()

    def test_missing_framework_names_the_extra(self):
        from sms_outbox import tasks

        self.addCleanup(setattr, tasks, "task", tasks.task)
        tasks.task = None
        with self.settings(SMS_OUTBOX_TASK={"enabled": True}):
            with self.assertRaisesMessage(
                SmsImproperlyInstalled, 'pip install "django-sms[outbox-tasks]"'
            ):
                get_task_options()


class FlakyBroker:
    """A task backend that follows the API, defers tasks and can be down."""

    down = True
    taken = []


def _flaky_backend():
    import importlib

    base = importlib.import_module(f"{FRAMEWORK}.backends.base").BaseTaskBackend

    class FlakyBrokerBackend(base):
        supports_defer = True

        def enqueue(self, task, args, kwargs):
            if FlakyBroker.down:
                raise ConnectionError("broker unreachable")
            FlakyBroker.taken.append(task)

    return FlakyBrokerBackend


FlakyBrokerBackend = _flaky_backend()


@override_settings(
    TASKS={"default": {"BACKEND": "tests.outbox.test_tasks.FlakyBrokerBackend"}},
    SMS_BACKEND=QUEUED,
    SMS_OUTBOX_BACKEND=SCRIPTED,
    DEFAULT_FROM_SMS="Acme",
    SMS_OUTBOX_TASK={"enabled": True, "window": 3600},
)
class BrokerDownTests(TaskTestCase):
    def test_rows_are_kept_and_the_next_commit_enqueues_again(self):
        FlakyBroker.down, FlakyBroker.taken = True, []
        with self.assertLogs("django.db.backends", "ERROR") as logs:
            self.assertEqual(sms.send_sms("Hello", None, [A]), 1)
        self.assertIn("broker unreachable", "\n".join(logs.output))
        self.assertEqual(OutboxMessage.objects.get().status, "queued")
        FlakyBroker.down = False
        sms.send_sms("Again", None, [B])
        # The failed wake-up was forgotten: this one goes at once.
        self.assertEqual([task.run_after for task in FlakyBroker.taken], [None])
