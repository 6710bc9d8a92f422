"""Tests for the drain (send_queued): order, results, retries, errors, leases."""

import datetime
import threading
import uuid

from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import sms
from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsConfigurationError,
)
from sms.signals import post_send
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message, due_now
from tests.support.outbox_backends import ScriptedBackend

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
SCRIPTED = "tests.support.outbox_backends.ScriptedBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def queue(body="Hello", recipients=(A,), **options):
    connection_ = sms.get_connection(QUEUED, **options)
    sms.send_sms(body, "Acme", list(recipients), connection=connection_)


def statuses():
    return dict(Message.objects.values_list("recipient", "status"))


@override_settings(SMS_OUTBOX_BACKEND=SCRIPTED)
class DrainTests(TestCase):
    def setUp(self):
        ScriptedBackend.reset()

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_sends_in_priority_then_age_order_and_only_due_rows(self):
        queue("old", [A])
        queue("later", [B], send_after=timezone.now() + datetime.timedelta(hours=1))
        queue("new", [C])
        queue("urgent", [C], priority=9)
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying, result.failed), (3, 0, 0))
        self.assertEqual(
            [m.body for m in ScriptedBackend.sent], ["urgent", "old", "new"]
        )
        self.assertEqual(Message.objects.get(body="later").status, "queued")
        self.assertEqual(str(result)[:31], "sent 3, retrying 0, failed 0 in")

    def test_sent_row_records_the_result(self):
        queue()
        row = Message.objects.get()
        engine.send_queued()
        row.refresh_from_db()
        self.assertEqual(row.status, "sent")
        self.assertEqual(row.provider_message_id, "SM0000")
        self.assertEqual((row.attempts, row.backend, row.claimed_by), (1, SCRIPTED, ""))
        self.assertIsNotNone(row.sent_at)
        self.assertEqual(row.finished_at, row.sent_at)
        self.assertIsNone(row.lease_expires_at)
        attempt = row.attempts_log.get()
        self.assertEqual(attempt.outcome, "sent")
        self.assertGreaterEqual(attempt.duration_ms, 0)

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_each_row_goes_as_a_one_recipient_message_carrying_its_reference(self):
        queue("Hi", [A, B])
        engine.send_queued()
        refs = dict(Message.objects.values_list("recipient", "reference"))
        self.assertEqual(
            [(m.recipients, m.reference) for m in ScriptedBackend.sent],
            [([A], refs[A]), ([B], refs[B])],
        )

    def test_post_send_once_per_row_with_the_result(self):
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append(
                (
                    instance.recipients,
                    [(r.recipient, r.message_id) for r in instance.results],
                )
            )

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        ScriptedBackend.reset({B: RecipientRejected("no")})
        queue("Hi", [A, B, C])
        engine.send_queued()
        self.assertEqual(seen, [([A], [(A, "SM0000")]), ([C], [(C, "SM0001")])])

    def test_transient_error_retries_with_backoff(self):
        ScriptedBackend.reset({A: [ProviderUnavailable("503", code=503)]})
        queue()
        before = timezone.now()
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying, result.failed), (0, 1, 0))
        row = Message.objects.get()
        self.assertEqual((row.status, row.attempts), ("queued", 1))
        self.assertIn("503", row.last_error)
        delay = (row.next_attempt_at - before).total_seconds()
        self.assertTrue(29 <= delay <= 61, delay)
        self.assertEqual(
            list(row.attempts_log.values_list("outcome", "error_code")),
            [("retry", "503")],
        )
        # Not due yet: a second run sends nothing.
        self.assertEqual(engine.send_queued().total, 0)
        Message.objects.update(next_attempt_at=due_now())
        self.assertEqual(engine.send_queued().sent, 1)
        row.refresh_from_db()
        self.assertEqual((row.status, row.attempts), ("sent", 2))

    @override_settings(SMS_OUTBOX_RETRY_DELAY=10, SMS_OUTBOX_RETRY_MAX_DELAY=50)
    @override_settings(SMS_OUTBOX_MAX_ATTEMPTS=3, SMS_OUTBOX_RETRY_DELAY=0)
    def test_fails_after_max_attempts(self):
        ScriptedBackend.reset({A: [ProviderUnavailable("503")] * 5})
        queue()
        results = [engine.send_queued() for _ in range(4)]
        self.assertEqual([r.retrying for r in results], [1, 1, 0, 0])
        self.assertEqual([r.failed for r in results], [0, 0, 1, 0])
        row = Message.objects.get()
        self.assertEqual((row.status, row.attempts), ("failed", 3))
        self.assertIsNotNone(row.finished_at)
        self.assertEqual(
            list(row.attempts_log.values_list("outcome", flat=True)),
            ["retry", "retry", "failed"],
        )

    def test_permanent_error_fails_at_once(self):
        ScriptedBackend.reset({B: RecipientRejected("invalid number", code=21211)})
        queue("Hi", [A, B, C])
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed), (2, 1))
        self.assertEqual(statuses(), {A: "sent", B: "failed", C: "sent"})
        row = Message.objects.get(recipient=B)
        self.assertEqual(row.attempts, 1)
        self.assertIn("invalid number", row.last_error)
        self.assertEqual(row.attempts_log.get().error_code, "21211")

    def test_unknown_outcome_is_retried_and_logged_as_unknown(self):
        ScriptedBackend.reset({A: [OutcomeUnknown("read timeout")]})
        queue()
        self.assertEqual(engine.send_queued().retrying, 1)
        self.assertEqual(Attempt.objects.get().outcome, "unknown")

    def test_an_unexpected_exception_does_not_stop_the_others(self):
        ScriptedBackend.reset({A: [RuntimeError("backend bug")]})
        queue("Hi", [A, B])
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying), (1, 1))
        self.assertEqual(statuses(), {A: "queued", B: "sent"})

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_account_error_stops_the_run_and_uses_no_attempts(self):
        ScriptedBackend.reset({B: ProviderAccountError("401 Authenticate")})
        queue("one", [A])
        queue("two", [B])
        queue("three", [C])
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            result = engine.send_queued()
        self.assertIsInstance(result.error, ProviderAccountError)
        self.assertEqual(result.sent, 1)
        self.assertEqual(statuses(), {A: "sent", B: "queued", C: "queued"})
        for row in Message.objects.filter(status="queued"):
            self.assertEqual((row.attempts, row.claimed_by), (0, ""))
            self.assertIsNone(row.lease_expires_at)
        self.assertEqual(Attempt.objects.count(), 1)

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_an_interruption_puts_unsent_rows_back_at_once(self):
        ScriptedBackend.reset({B: KeyboardInterrupt()})
        queue("Hi", [A, B, C])
        with self.assertRaises(KeyboardInterrupt):
            engine.send_queued()
        self.assertEqual(statuses(), {A: "sent", B: "queued", C: "queued"})
        self.assertEqual(
            list(Message.objects.queued().values_list("attempts", "claimed_by")),
            [(0, ""), (0, "")],
        )

    def test_limit(self):
        queue("Hi", [A, B, C])
        self.assertEqual(engine.send_queued(limit=2).sent, 2)
        self.assertEqual(Message.objects.queued().count(), 1)

    def test_stop_before_start_sends_nothing_and_holds_nothing(self):
        queue("Hi", [A, B])
        stop = threading.Event()
        stop.set()
        self.assertEqual(engine.send_queued(stop=stop).total, 0)
        self.assertEqual(Message.objects.queued().count(), 2)

    def test_expired_lease_is_reclaimed(self):
        queue("Hi", [A, B])
        past = timezone.now() - datetime.timedelta(seconds=1)
        future = timezone.now() + datetime.timedelta(minutes=5)
        Message.objects.filter(recipient=A).update(
            status="sending", claimed_by="dead:1:x", lease_expires_at=past
        )
        Message.objects.filter(recipient=B).update(
            status="sending", claimed_by="alive:2:y", lease_expires_at=future
        )
        with self.assertLogs("sms_outbox.drain.claims", "WARNING"):
            result = engine.send_queued()
        self.assertEqual(result.sent, 1)
        self.assertEqual(statuses(), {A: "sent", B: "sending"})
        self.assertEqual(
            list(
                Message.objects.get(recipient=A).attempts_log.values_list(
                    "outcome", flat=True
                )
            ),
            ["unknown", "sent"],
        )

    @override_settings(SMS_OUTBOX_BACKEND=None)
    def test_missing_backend_setting(self):
        queue_rows = Message.objects.create(
            batch_id=uuid.uuid4(), body="x", recipient=A, reference="r"
        )
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_OUTBOX_BACKEND"):
            engine.send_queued()
        queue_rows.refresh_from_db()
        self.assertEqual(queue_rows.status, "queued")

    @override_settings(SMS_OUTBOX_BACKEND=QUEUED)
    def test_loop_backend_setting(self):
        with self.assertRaisesMessage(SmsConfigurationError, "queued backend itself"):
            engine.send_queued()


@override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
class QueryCountTests(TransactionTestCase):
    """Count queries outside a test transaction, as a real drain runs."""

    def test_queries_per_message(self):
        backend = sms.get_connection(QUEUED)
        sms.send_mass_sms(
            [("Hi", "Acme", [A]) for _ in range(1000)], connection=backend
        )
        sms.outbox = []
        with CaptureQueriesContext(connection) as queries:
            result = engine.send_queued()
        self.assertEqual(result.sent, 1000)
        sql = [q["sql"][:60] for q in queries]
        # Per 100 results one transaction (sent UPDATE and attempt INSERT; BEGIN
        # and COMMIT are counted on SQLite); per claim of up to 500 rows a
        # transaction and the opt-out lookup.
        self.assertLessEqual(len(sql) / 1000, 0.08, sql)
        # One flush per 100 results, and one more at the end of each claim.
        flushes = [s for s in sql if s.startswith("INSERT")]
        claims = [s for s in sql if s.startswith("UPDATE") and "'sending'" in s]
        self.assertGreaterEqual(len(flushes), 10, sql)
        self.assertLessEqual(len(flushes), 10 + len(claims), sql)
        self.assertEqual(Attempt.objects.count(), 1000)
        self.assertEqual(
            Message.objects.values("provider_message_id").distinct().count(), 1000
        )
