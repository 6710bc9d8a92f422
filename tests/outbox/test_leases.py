"""Tests for leases and fencing: a drain writes only rows its claim still holds."""

import datetime
from unittest import mock

from django.db.models import F
from django.test import TestCase, override_settings
from django.utils import timezone

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import ProviderUnavailable, SmsConfigurationError
from sms_outbox import claims, engine
from sms_outbox.claims import KEPT_DYING, LEASE_EXPIRED, claim_rows
from sms_outbox.models import Attempt, Message
from sms_outbox.results import AttemptResult, Recorder

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def queue(*recipients):
    connection = sms.get_connection(QUEUED)
    sms.send_sms("Hello", "Acme", list(recipients), connection=connection)


def row(recipient):
    return Message.objects.get(recipient=recipient)


class Clock:
    """A ``time.monotonic`` the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class HookBackend(BaseSmsBackend):
    """Deliver, but first run ``before(message)``; record what was delivered."""

    before = None
    sent = []

    def send_messages(self, messages):
        for message in messages:
            if HookBackend.before:
                HookBackend.before(message)
            HookBackend.sent.append(message.recipients[0])
        return len(messages)


@override_settings(
    SMS_OUTBOX_BACKEND="tests.outbox.test_leases.HookBackend",
    SMS_OUTBOX_LEASE_SECONDS=60,
    SMS_TIMEOUT=10,
)
class LeaseTests(TestCase):
    def setUp(self):
        HookBackend.before = None
        HookBackend.sent = []
        self.clock = Clock()
        patcher = mock.patch("sms_outbox.claims.time.monotonic", self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_renews_the_lease_before_a_call_that_could_outlive_it(self):
        queue(A, B, C)

        def slow(message):
            # Each call takes 30 s: after two, less than SMS_TIMEOUT + 1 s
            # of the 60 s lease would be left for the third.
            self.clock.now += 30

        HookBackend.before = slow
        leases = []
        original = claims.Claim.renew

        def renew(claim, rows):
            leases.append([r.recipient for r in rows])
            return original(claim, rows)

        with mock.patch.object(claims.Claim, "renew", renew):
            result = engine.send_queued()
        self.assertEqual(result.sent, 3)
        self.assertEqual(HookBackend.sent, [A, B, C])
        # Renewed once, before the third call, for the one row left.
        self.assertEqual(leases, [[C]])

    def test_never_sends_a_row_another_drain_took_after_the_lease_ran_out(self):
        queue(A, B, C)

        def stall(message):
            if message.recipients == [A]:
                # This drain stalls past its lease; another one takes C back
                # and delivers it.
                self.clock.now += 55
                Message.objects.filter(recipient=C).update(
                    status="sent", claimed_by="", provider_message_id="OTHER"
                )

        HookBackend.before = stall
        result = engine.send_queued()
        self.assertEqual(HookBackend.sent, [A, B])
        self.assertEqual(result.sent, 2)
        self.assertEqual(row(C).provider_message_id, "OTHER")
        self.assertEqual(row(C).attempts_log.count(), 0)

    def test_gives_back_what_one_lease_cannot_cover_at_a_slow_pace(self):
        queue(*[f"+4411349600{n:02d}" for n in range(10)])
        seen = []

        def slow(message):
            seen.append(message.recipients[0])
            self.clock.now += 20
            if len(seen) == 4:
                # Before the fourth call the lease is renewed for at most
                # (60 - 11) / 20 = 2 rows; the rest wait in the queue for any
                # worker.
                self.queued_after_renewal = Message.objects.queued().count()

        HookBackend.before = slow
        self.assertEqual(engine.send_queued(limit=10).sent, 10)
        self.assertEqual(self.queued_after_renewal, 10 - 3 - 2)

    @override_settings(SMS_OUTBOX_LEASE_SECONDS=11)
    def test_a_lease_shorter_than_a_provider_call_is_refused(self):
        queue(A)
        with self.assertRaisesMessage(
            SmsConfigurationError,
            "SMS_OUTBOX_LEASE_SECONDS is 11 but must be longer than SMS_TIMEOUT "
            "(10) plus 1 second",
        ):
            engine.send_queued()
        self.assertEqual(row(A).status, "queued")


class FencingTests(TestCase):
    """Late results from a drain that lost its claim change nothing."""

    def claim(self, *recipients):
        queue(*recipients)
        return claim_rows(10)

    def outcome(self, claimed, recipient, kind, **fields):
        claimed_row = next(r for r in claimed.rows if r.recipient == recipient)
        return AttemptResult(claimed_row, kind, **fields)

    def test_late_sent_result_leaves_a_row_another_drain_took(self):
        claim = self.claim(A, B)
        # The lease ran out; another drain took A back and sent it.
        Message.objects.filter(recipient=A).update(
            status="sent", claimed_by="", provider_message_id="SM-B"
        )
        recorder = Recorder("x.Backend", claim.token)
        recorder.add(self.outcome(claim, A, "sent", message_id="SM-A"))
        recorder.add(self.outcome(claim, B, "sent", message_id="SM-B2"))
        with self.assertLogs("sms_outbox.results", "WARNING") as logs:
            recorder.flush()
        self.assertIn("may have gone out twice", logs.output[0])
        self.assertEqual(row(A).provider_message_id, "SM-B")
        self.assertEqual(row(A).attempts, 0)
        self.assertEqual((row(B).status, row(B).provider_message_id), ("sent", "SM-B2"))
        logged = Attempt.objects.get(message__recipient=A)
        self.assertEqual(logged.outcome, "sent")
        self.assertIn("lost its lease", logged.error_text)

    def test_late_retry_does_not_requeue_a_delivered_or_cancelled_row(self):
        claim = self.claim(A, B, C)
        sent_at = timezone.now()
        Message.objects.filter(recipient=A).update(
            status="sent", claimed_by="", sent_at=sent_at
        )
        Message.objects.filter(recipient=B).update(status="cancelled", claimed_by="")
        recorder = Recorder("x.Backend", claim.token)
        for recipient in (A, B, C):
            recorder.add(self.outcome(claim, recipient, "retry", error_text="503"))
        with self.assertLogs("sms_outbox.results", "INFO") as logs:
            recorder.flush()
        # The provider never took these: no duplicate to warn about.
        self.assertEqual([r.levelname for r in logs.records], ["INFO"])
        self.assertNotIn("twice", logs.output[0])
        self.assertEqual((row(A).status, row(A).sent_at), ("sent", sent_at))
        self.assertEqual(row(B).status, "cancelled")
        self.assertEqual((row(C).status, row(C).attempts), ("queued", 1))

    def test_release_leaves_rows_the_claim_no_longer_holds(self):
        claim = self.claim(A, B)
        Message.objects.filter(recipient=A).update(claimed_by="someone-else")
        self.assertEqual(
            claims.release_rows(claim.token, [r.id for r in claim.rows]), 1
        )
        self.assertEqual(
            (row(A).status, row(A).claimed_by), ("sending", "someone-else")
        )
        self.assertEqual(row(B).status, "queued")

    def test_renew_reports_only_rows_still_held(self):
        claim = self.claim(A, B)
        Message.objects.filter(recipient=B).update(status="queued", claimed_by="")
        kept = claim.renew(claim.rows)
        self.assertEqual([r.recipient for r in kept], [A])

    def test_a_flush_that_failed_writes_only_what_is_left(self):
        claim = self.claim(A, B)
        recorder = Recorder("x.Backend", claim.token)
        recorder.pending = [
            self.outcome(claim, A, "sent", message_id="SM1"),
            self.outcome(claim, B, "retry", error_text="503"),
        ]
        # The database goes away after the sent UPDATE.
        from django.db import OperationalError

        with mock.patch.object(
            Recorder, "_write_others", side_effect=OperationalError("gone")
        ):
            with self.assertRaises(OperationalError):
                recorder.flush()
        self.assertEqual(row(A).status, "sent")
        recorder.flush()  # the next run writes the rest, and A only once
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


@override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
class ExpiredLeaseTests(TestCase):
    def expire(self, recipient, attempts):
        Message.objects.filter(recipient=recipient).update(
            status="sending",
            claimed_by="dead:1:x",
            attempts=attempts,
            lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
        )

    @override_settings(SMS_OUTBOX_MAX_ATTEMPTS=3)
    def test_an_expired_lease_uses_an_attempt_and_the_last_one_fails_the_row(self):
        queue(A, B)
        self.expire(A, 0)
        self.expire(B, 2)
        with self.assertLogs("sms_outbox.claims", "WARNING"):
            self.assertEqual(claims.requeue_expired(), 2)
        a, b = row(A), row(B)
        self.assertEqual(
            (a.status, a.attempts, a.last_error), ("queued", 1, LEASE_EXPIRED)
        )
        self.assertEqual(
            (b.status, b.attempts, b.last_error), ("failed", 3, KEPT_DYING)
        )
        self.assertIsNotNone(b.finished_at)
        self.assertEqual(
            list(Attempt.objects.values_list("outcome", flat=True)), ["unknown"] * 2
        )

    def test_a_lease_still_running_by_the_database_clock_is_left(self):
        queue(A)
        Message.objects.filter(recipient=A).update(
            status="sending",
            claimed_by="alive:1:x",
            lease_expires_at=timezone.now() + datetime.timedelta(minutes=1),
        )
        self.assertEqual(claims.requeue_expired(), 0)
        self.assertEqual(row(A).claimed_by, "alive:1:x")

    def test_a_run_tries_each_row_once_even_without_a_retry_delay(self):
        queue(A)
        Message.objects.update(attempts=F("attempts"))
        with override_settings(
            SMS_OUTBOX_BACKEND="tests.support.outbox_backends.ScriptedBackend",
            SMS_OUTBOX_RETRY_DELAY=0,
        ):
            from tests.support.outbox_backends import ScriptedBackend

            ScriptedBackend.reset({A: [ProviderUnavailable("503")] * 3})
            result = engine.send_queued()
        self.assertEqual((result.retrying, row(A).attempts), (1, 1))


@override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
class DatabaseOutageTests(TestCase):
    def test_results_a_run_could_not_write_are_written_by_the_next_run(self):
        from django.db import OperationalError

        from sms_outbox import results

        queue(A, B)
        real = results._insert_attempts
        calls = []

        def gone_once(*args):
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("server closed the connection unexpectedly")
            return real(*args)

        with mock.patch.object(results, "_insert_attempts", gone_once):
            with self.assertRaises(OperationalError):
                engine.send_queued()
            # The statuses were written before the outage; the log was not.
            self.assertEqual(
                set(Message.objects.values_list("status", flat=True)), {"sent"}
            )
            self.assertFalse(Attempt.objects.exists())
            result = engine.send_queued()
        self.assertEqual(result.total, 0)  # nothing sent twice
        self.assertEqual(
            list(Attempt.objects.values_list("outcome", flat=True)), ["sent", "sent"]
        )
