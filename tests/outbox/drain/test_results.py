"""Tests for the Recorder: buffered, fenced writes of rows' results and attempt log."""

import datetime
from unittest import mock

from django.db import OperationalError
from django.test import TestCase, override_settings
from django.utils import timezone

import sms
from sms_outbox.drain import results
from sms_outbox.drain.claims import claim_rows
from sms_outbox.drain.results import AttemptResult, Recorder
from sms_outbox.models import Attempt, Message
from tests.support.clock import Clock

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def claim(*recipients):
    """Queue one SMS to each of ``recipients`` and claim them all."""
    connection = sms.get_connection(QUEUED)
    sms.send_sms("Hello", "Acme", list(recipients), connection=connection)
    return claim_rows(len(recipients))


def result(claimed, recipient, kind, **fields):
    """Return the result of a try of ``recipient``'s claimed row."""
    claimed_row = next(r for r in claimed.rows if r.recipient == recipient)
    return AttemptResult(claimed_row, kind, **fields)


def row(recipient):
    return Message.objects.get(recipient=recipient)


class FlushTests(TestCase):
    """Results are written every 100 outcomes or every second, not each one."""

    def setUp(self):
        self.clock = Clock()
        patcher = mock.patch("sms_outbox.drain.results.time.monotonic", self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_a_hundred_outcomes_flush_and_fewer_wait(self):
        numbers = [f"+4411349{n:05d}" for n in range(results.FLUSH_EVERY_MESSAGES)]
        taken = claim(*numbers)
        recorder = Recorder("x.Backend", taken.token)
        flushed = [recorder.add(result(taken, n, "sent")) for n in numbers]
        self.assertEqual(flushed, [False] * (len(numbers) - 1) + [True])
        self.assertEqual(Message.objects.filter(status="sent").count(), len(numbers))
        self.assertEqual(Attempt.objects.count(), len(numbers))

    def test_a_second_after_the_last_flush_the_next_outcome_flushes(self):
        taken = claim(A, B)
        recorder = Recorder("x.Backend", taken.token)
        self.assertFalse(recorder.add(result(taken, A, "sent")))
        self.assertEqual(row(A).status, "sending")
        self.clock.now += results.FLUSH_EVERY_SECONDS
        self.assertTrue(recorder.add(result(taken, B, "sent")))
        self.assertEqual({row(A).status, row(B).status}, {"sent"})
        self.assertEqual(recorder.pending, [])

    def test_a_flush_with_nothing_buffered_asks_the_database_nothing(self):
        recorder = Recorder("x.Backend", "token")
        with self.assertNumQueries(0):
            recorder.flush()


class WriteTests(TestCase):
    """What a flush writes to a row and to its attempt log, per kind of try."""

    def test_a_sent_row_records_the_provider_id_and_finishes(self):
        taken = claim(A)
        recorder = Recorder("x.Backend", taken.token)
        recorder.add(result(taken, A, "sent", message_id="SM1", duration_ms=12.5))
        recorder.flush()
        sent = row(A)
        self.assertEqual(
            (sent.status, sent.provider_message_id, sent.attempts, sent.backend),
            ("sent", "SM1", 1, "x.Backend"),
        )
        self.assertIsNotNone(sent.sent_at)
        self.assertEqual(sent.finished_at, sent.sent_at)
        self.assertEqual((sent.claimed_by, sent.lease_expires_at), ("", None))
        logged = Attempt.objects.get()
        self.assertEqual(
            (logged.message_id, logged.outcome, logged.duration_ms, logged.error_text),
            (sent.pk, "sent", 12.5, ""),
        )

    @override_settings(SMS_OUTBOX_RETRY_DELAY=60, SMS_OUTBOX_MAX_ATTEMPTS=5)
    def test_a_retry_goes_back_to_the_queue_after_the_policy_delay(self):
        taken = claim(A)
        before = timezone.now()
        recorder = Recorder("x.Backend", taken.token)
        code = "E" * 40
        recorder.add(result(taken, A, "retry", error_code=code, error_text="503"))
        recorder.flush()
        retried = row(A)
        self.assertEqual(
            (retried.status, retried.attempts, retried.last_error),
            ("queued", 1, "503"),
        )
        self.assertIsNone(retried.finished_at)
        # Back-off with jitter: between half and all of the 60 s delay.
        due_in = retried.next_attempt_at - before
        self.assertGreaterEqual(due_in, datetime.timedelta(seconds=29))
        self.assertLessEqual(due_in, datetime.timedelta(seconds=90))
        logged = Attempt.objects.get()
        self.assertEqual(
            (logged.outcome, logged.error_code, logged.error_text),
            ("retry", code[:32], "503"),
        )

    @override_settings(SMS_OUTBOX_MAX_ATTEMPTS=1)
    def test_at_the_last_attempt_a_retry_fails_and_an_unknown_stays_unknown(self):
        taken = claim(A, B)
        recorder = Recorder("x.Backend", taken.token)
        recorder.add(result(taken, A, "retry", error_text="503"))
        recorder.add(result(taken, B, "unknown", error_text="read timeout"))
        recorder.flush()
        for recipient in (A, B):
            self.assertEqual(row(recipient).status, "failed")
            self.assertIsNotNone(row(recipient).finished_at)
        self.assertEqual(
            dict(Attempt.objects.values_list("message__recipient", "outcome")),
            {A: "failed", B: "unknown"},
        )

    def test_a_permanent_failure_finishes_the_row_at_once(self):
        taken = claim(A)
        recorder = Recorder("x.Backend", taken.token)
        recorder.add(result(taken, A, "failed", error_code="21211", error_text="bad"))
        recorder.flush()
        self.assertEqual((row(A).status, row(A).attempts), ("failed", 1))
        self.assertEqual(Attempt.objects.get().error_code, "21211")


class FencingTests(TestCase):
    """Late results from a drain that lost its claim change nothing."""

    def test_late_sent_result_leaves_a_row_another_drain_took(self):
        taken = claim(A, B)
        # The lease ran out; another drain took A back and sent it.
        Message.objects.filter(recipient=A).update(
            status="sent", claimed_by="", provider_message_id="SM-B"
        )
        recorder = Recorder("x.Backend", taken.token)
        recorder.add(result(taken, A, "sent", message_id="SM-A"))
        recorder.add(result(taken, B, "sent", message_id="SM-B2"))
        with self.assertLogs("sms_outbox.drain.results", "WARNING") as logs:
            recorder.flush()
        self.assertIn("may have gone out twice", logs.output[0])
        self.assertEqual(row(A).provider_message_id, "SM-B")
        self.assertEqual(row(A).attempts, 0)
        self.assertEqual((row(B).status, row(B).provider_message_id), ("sent", "SM-B2"))
        logged = Attempt.objects.get(message__recipient=A)
        self.assertEqual(logged.outcome, "sent")
        self.assertIn("lost its lease", logged.error_text)

    def test_late_retry_does_not_requeue_a_delivered_or_cancelled_row(self):
        taken = claim(A, B, C)
        sent_at = timezone.now()
        Message.objects.filter(recipient=A).update(
            status="sent", claimed_by="", sent_at=sent_at
        )
        Message.objects.filter(recipient=B).update(status="cancelled", claimed_by="")
        recorder = Recorder("x.Backend", taken.token)
        for recipient in (A, B, C):
            recorder.add(result(taken, recipient, "retry", error_text="503"))
        with self.assertLogs("sms_outbox.drain.results", "INFO") as logs:
            recorder.flush()
        # The provider never took these: no duplicate to warn about.
        self.assertEqual([r.levelname for r in logs.records], ["INFO"])
        self.assertNotIn("twice", logs.output[0])
        self.assertEqual((row(A).status, row(A).sent_at), ("sent", sent_at))
        self.assertEqual(row(B).status, "cancelled")
        self.assertEqual((row(C).status, row(C).attempts), ("queued", 1))

    def test_a_flush_that_failed_wrote_nothing_and_the_next_writes_it_once(self):
        taken = claim(A, B)
        recorder = Recorder("x.Backend", taken.token)
        recorder.pending = [
            result(taken, A, "sent", message_id="SM1"),
            result(taken, B, "retry", error_text="503"),
        ]
        # The database goes away after the sent UPDATE: the flush's
        # transaction takes that UPDATE back with it.
        with mock.patch.object(
            Recorder, "_write_others", side_effect=OperationalError("gone")
        ):
            with self.assertRaises(OperationalError):
                recorder.flush()
        self.assertEqual(row(A).status, "sending")
        self.assertFalse(Attempt.objects.exists())
        recorder.flush()  # the next run writes it all, A only once
        self.assertEqual((row(B).status, row(B).attempts), ("queued", 1))
        self.assertEqual(
            sorted(Attempt.objects.values_list("outcome", flat=True)),
            ["retry", "sent"],
        )
        self.assertFalse(
            any(
                "lost" in t
                for t in Attempt.objects.values_list("error_text", flat=True)
            )
        )
