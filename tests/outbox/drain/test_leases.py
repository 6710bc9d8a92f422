"""Tests for leases and fencing: a drain writes only rows its claim still holds."""

from unittest import mock

from django.test import TestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import ProviderUnavailable, SmsConfigurationError
from sms_outbox.drain import claims
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message
from tests.support.clock import Clock

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def queue(*recipients):
    connection = sms.get_connection(QUEUED)
    sms.send_sms("Hello", "Acme", list(recipients), connection=connection)


def row(recipient):
    return Message.objects.get(recipient=recipient)


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
    SMS_OUTBOX_BACKEND="tests.outbox.drain.test_leases.HookBackend",
    SMS_OUTBOX_LEASE_SECONDS=60,
    SMS_TIMEOUT=10,
    # One call at a time, on the test's thread: the hooks move a simulated
    # clock and write rows between calls.
    SMS_OUTBOX_MAX_IN_FLIGHT=1,
)
class LeaseTests(TestCase):
    def setUp(self):
        HookBackend.before = None
        HookBackend.sent = []
        self.clock = Clock()
        patcher = mock.patch("sms_outbox.drain.claims.time.monotonic", self.clock)
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


class SkipTests(TestCase):
    """A run does not claim again the rows it put back for a retry."""

    def test_a_run_tries_each_row_once_even_without_a_retry_delay(self):
        queue(A)
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

        from sms_outbox.drain import results

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
            # Statuses and log are one transaction: neither was written.
            self.assertEqual(
                set(Message.objects.values_list("status", flat=True)), {"sending"}
            )
            self.assertFalse(Attempt.objects.exists())
            result = engine.send_queued()
        self.assertEqual(result.total, 0)  # nothing sent twice
        self.assertEqual(
            list(Attempt.objects.values_list("outcome", flat=True)), ["sent", "sent"]
        )
