"""Drain through the real Twilio backend and SDK to a fake Twilio over HTTP."""

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

import sms
from sms.exceptions import ProviderAccountError
from sms.testing import FakeTwilio
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message
from tests.support.outbox_backends import FakeTwilioBackend

A, B, C = "+441134960000", "+441134960999", "+12065550100"


class FakeTwilioMixin:
    """Point SMS_OUTBOX_BACKEND at a fresh fake Twilio for each test."""

    failure_ratio = 0.0

    def setUp(self):
        self.fake = FakeTwilio(failure_ratio=self.failure_ratio, seed=7).start()
        self.addCleanup(self.fake.stop)
        FakeTwilioBackend.fake_url = self.fake.url
        self.addCleanup(setattr, FakeTwilioBackend, "fake_url", None)
        settings = override_settings(
            SMS_OUTBOX_BACKEND="tests.support.outbox_backends.FakeTwilioBackend",
            TWILIO_ACCOUNT_SID=self.fake.account_sid,
            TWILIO_AUTH_TOKEN=self.fake.auth_token,
            SMS_OUTBOX_RETRY_DELAY=0,
            SMS_OUTBOX_MAX_ATTEMPTS=20,
        )
        settings.enable()
        self.addCleanup(settings.disable)

    def queue(self, recipients, body="Hello"):
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        sms.send_sms(body, "+12065550101", recipients, connection=queued)


class FakeTwilioDrainTests(FakeTwilioMixin, TestCase):
    def test_sent_rows_carry_the_twilio_sid(self):
        self.queue([A, B])
        self.assertEqual(engine.send_queued().sent, 2)
        sids = {m["to"]: m["sid"] for m in self.fake.messages}
        for row in Message.objects.all():
            self.assertEqual(row.provider_message_id, sids[row.recipient])
        # The two calls are in flight together: either may arrive first.
        self.assertEqual(
            sorted((m["to"], m["body"]) for m in self.fake.messages),
            sorted([(A, "Hello"), (B, "Hello")]),
        )

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_a_400_invalid_number_fails_that_row_at_once(self):
        self.queue([A, B, C])
        self.fake.script(
            self.fake.error(400, 21211, "The 'To' number is not a valid phone number.")
        )
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed, result.retrying), (2, 1, 0))
        row = Message.objects.get(recipient=A)
        self.assertEqual((row.status, row.attempts), ("failed", 1))
        self.assertEqual(row.attempts_log.get().error_code, "21211")
        self.assertNotIn(A, row.last_error)

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # calls one after another
    def test_an_auth_error_stops_the_run_and_uses_no_attempts(self):
        self.queue([A, B, C])
        self.fake.script(self.fake.error(401, 20003, "Authenticate"))
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            result = engine.send_queued()
        self.assertIsInstance(result.error, ProviderAccountError)
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual(
            list(Message.objects.values_list("status", "attempts", "claimed_by")),
            [("queued", 0, "")] * 3,
        )
        self.assertFalse(Attempt.objects.exists())

    def test_the_command_exits_non_zero_on_an_auth_error(self):
        self.queue([A])
        self.fake.script(self.fake.error(401, 20003, "Authenticate"))
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            with pytest.raises(CommandError, match="Stopped"):
                call_command("send_queued_sms", verbosity=0)
        self.assertEqual(Message.objects.get().status, "queued")


class FlakyProviderTests(FakeTwilioMixin, TestCase):
    """A provider answering 30% of calls with 503: everything goes in the end."""

    failure_ratio = 0.3

    def test_everything_is_delivered_after_retries(self):
        count = 60
        sms.send_mass_sms(
            [(f"Message {n}", "+12065550101", [A]) for n in range(count)],
            connection=sms.get_connection("sms_outbox.backends.QueuedSmsBackend"),
        )
        for _ in range(50):
            if not engine.send_queued().total:
                break
        self.assertEqual(Message.objects.filter(status="sent").count(), count)
        bodies = sorted(m["body"] for m in self.fake.messages)
        self.assertEqual(bodies, sorted(f"Message {n}" for n in range(count)))
        refused = len(self.fake.requests) - count
        self.assertGreater(refused, 0)
        self.assertEqual(Attempt.objects.filter(outcome="retry").count(), refused)
        self.assertEqual(
            set(
                Attempt.objects.filter(outcome="retry").values_list(
                    "error_code", flat=True
                )
            ),
            {"20503"},
        )
        self.assertEqual(Attempt.objects.filter(outcome="sent").count(), count)
