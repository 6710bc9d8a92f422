"""Tests for send_rows(): once the provider accepted an SMS, the row is sent."""

from django.test import TestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.signals import post_send
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B = "+441134960000", "+441134960999"


class BareResult:
    """A custom backend's own result: the four documented attributes, no ``ok``."""

    def __init__(self, recipient, message_id):
        self.recipient = recipient
        self.message_id = message_id
        self.status = "accepted"
        self.error = None


class CustomResultsBackend(BaseSmsBackend):
    calls = []

    def send_messages(self, messages):
        for message in messages:
            CustomResultsBackend.calls.append(message.recipients[0])
            message.results = [BareResult(message.recipients[0], "CUSTOM-1")]
        return len(messages)


class LeakyBackend(BaseSmsBackend):
    """Raise an unexpected error whose text carries the full number."""

    def send_messages(self, messages):
        try:
            raise ConnectionError(
                f"socket closed while sending to {messages[0].recipients[0]}"
            )
        except ConnectionError as err:
            raise RuntimeError(f"bug handling {messages[0].recipients[0]}") from err


def queue(*recipients):
    sms.send_sms(
        "Hello", "Acme", list(recipients), connection=sms.get_connection(QUEUED)
    )


class DeliverTests(TestCase):
    @override_settings(
        SMS_OUTBOX_BACKEND="tests.outbox.drain.test_sending.CustomResultsBackend"
    )
    def test_results_without_ok_count_as_sent(self):
        CustomResultsBackend.calls = []
        queue(A)
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying), (1, 0))
        row = Message.objects.get()
        self.assertEqual((row.status, row.provider_message_id), ("sent", "CUSTOM-1"))
        self.assertEqual(CustomResultsBackend.calls, [A])

    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
    def test_a_raising_post_send_receiver_never_turns_a_delivery_into_a_retry(self):
        calls = []

        def broken(sender, instance, **kwargs):
            calls.append(instance.recipients[0])
            raise ValueError(f"audit table is down for {instance.recipients[0]}")

        post_send.connect(broken)
        self.addCleanup(post_send.disconnect, broken)
        queue(A, B)
        sms.outbox = []
        with self.assertLogs("sms_outbox.drain.sending", "ERROR") as logs:
            result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying, result.failed), (2, 0, 0))
        self.assertEqual(len(sms.outbox), 2)
        # Both calls are in flight at once, so either may finish first.
        self.assertCountEqual(calls, [A, B])
        self.assertEqual(
            set(Message.objects.values_list("status", flat=True)), {"sent"}
        )
        self.assertEqual(
            list(Attempt.objects.values_list("outcome", flat=True)), ["sent", "sent"]
        )
        # Logged with its traceback, and without the full number.
        self.assertIn("ValueError: audit table is down", logs.output[0])
        self.assertNotIn(A, "\n".join(logs.output))
        self.assertNotIn(A.lstrip("+"), "\n".join(logs.output))
        # A second run finds nothing left to send.
        self.assertEqual(engine.send_queued().total, 0)

    @override_settings(
        SMS_OUTBOX_BACKEND="tests.outbox.drain.test_sending.LeakyBackend"
    )
    def test_logged_tracebacks_mask_the_number_in_the_error_and_its_cause(self):
        queue(A)
        with self.assertLogs("sms_outbox.drain.sending", "ERROR") as logs:
            engine.send_queued()
        text = "\n".join(logs.output)
        self.assertIn(
            "ConnectionError: socket closed while sending to +4411****0000", text
        )
        self.assertIn("RuntimeError: bug handling +4411****0000", text)
        self.assertNotIn(A, text)
        self.assertEqual(Attempt.objects.get().outcome, "unknown")
