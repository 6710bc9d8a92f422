"""Tests for the worker loop: it outlives account errors and lost databases."""

import threading
from unittest import mock

from django.db import OperationalError
from django.test import TestCase, override_settings

import sms
from sms.exceptions import ProviderAccountError
from sms_outbox.drain import worker
from sms_outbox.drain.run import DrainResult
from sms_outbox.models import Message
from tests.support.outbox_backends import ScriptedBackend

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A = "+441134960000"


def queue(*recipients):
    sms.send_sms(
        "Hello", "Acme", list(recipients), connection=sms.get_connection(QUEUED)
    )


class StopAfter:
    """An ``Event.wait`` stand-in: record the waits, stop after ``count`` of them."""

    def __init__(self, event, count):
        self.event, self.count, self.waits = event, count, []

    def __call__(self, seconds=None):
        self.waits.append(seconds)
        if len(self.waits) >= self.count:
            self.event.set()
        return self.event.is_set()


@override_settings(
    SMS_OUTBOX_BACKEND="tests.support.outbox_backends.ScriptedBackend",
    SMS_OUTBOX_ACCOUNT_ERROR_DELAY=60,
    SMS_OUTBOX_MAX_IN_FLIGHT=1,  # calls one after another
)
class WorkerTests(TestCase):
    def run_worker(self, waits, **options):
        event = threading.Event()
        stopper = StopAfter(event, waits)
        with mock.patch.object(worker.threading, "Event", return_value=event):
            with mock.patch.object(event, "wait", stopper):
                results = list(worker.drain_until_stopped(loop=True, **options))
        return results, stopper.waits

    def test_an_account_error_pauses_the_loop_with_a_doubling_wait(self):
        ScriptedBackend.reset({A: [ProviderAccountError("401")] * 2})
        queue(A)
        with self.assertLogs("sms_outbox.drain.worker", "ERROR") as logs:
            results, waits = self.run_worker(3, interval=5)
        self.assertEqual(waits, [60, 120, 5])
        self.assertEqual([r.sent for r in results], [0, 0, 1])
        self.assertTrue(all(r.error is None for r in results))
        self.assertIn("refused the account", logs.output[0])
        self.assertEqual(Message.objects.get().status, "sent")

    def test_without_loop_an_account_error_reaches_the_caller(self):
        ScriptedBackend.reset({A: [ProviderAccountError("401")]})
        queue(A)
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            (result,) = worker.drain_until_stopped(loop=False)
        self.assertIsInstance(result.error, ProviderAccountError)

    def test_a_lost_database_backs_off_and_logs_once_per_outage(self):
        calls = []

        def flaky(**options):
            calls.append(1)
            if len(calls) <= 7:
                raise OperationalError("server closed the connection unexpectedly")
            return DrainResult(sent=1)

        # Closing connections here would close the test's own transaction.
        with mock.patch.object(worker, "_close_connections") as close:
            with mock.patch.object(worker, "send_queued", flaky):
                with self.assertLogs("sms_outbox.drain.worker", "INFO") as logs:
                    results, waits = self.run_worker(8, interval=5)
        self.assertEqual(close.call_count, 7)
        self.assertEqual(waits, [1, 2, 4, 8, 16, 30, 30, 5])
        self.assertEqual([r.sent for r in results], [1])
        self.assertEqual(len(logs.output), 2, logs.output)
        self.assertIn("lost its database", logs.output[0])
        self.assertIn("has its database back", logs.output[1])

    def test_without_loop_a_lost_database_reaches_the_caller(self):
        with mock.patch.object(
            worker, "send_queued", side_effect=OperationalError("gone")
        ):
            with self.assertRaises(OperationalError):
                list(worker.drain_until_stopped(loop=False))
