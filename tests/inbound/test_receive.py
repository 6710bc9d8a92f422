"""Storing an inbound SMS: keywords, the HELP reply, and the signal."""

from django.test import TestCase, override_settings

from sms_outbox.inbound import InboundSms, receive
from sms_outbox.models import InboundMessage, Message, Suppression, SuppressionChange
from sms_outbox.optout import suppress
from sms_outbox.signals import sms_received

CUSTOMER, OUR_NUMBER = "+441134960000", "+12065550100"


def inbound(body, message_id="SM1", provider="twilio"):
    return InboundSms(provider, message_id, CUSTOMER, OUR_NUMBER, body)


class ReceiveTests(TestCase):
    def test_opt_out_is_logged_with_its_reason_and_source(self):
        row, created = receive(inbound("  Unsubscribe "))
        self.assertTrue(created)
        self.assertEqual(row.action, InboundMessage.Action.OPT_OUT)
        change = SuppressionChange.objects.get()
        self.assertEqual((change.change, change.source), ("added", "keyword"))
        self.assertIn("'Unsubscribe' via twilio", change.reason)

    def test_a_second_stop_changes_nothing(self):
        receive(inbound("STOP", "SM1"))
        receive(inbound("STOP", "SM2"))
        self.assertEqual(Suppression.objects.count(), 1)
        self.assertEqual(SuppressionChange.objects.count(), 1)
        self.assertEqual(InboundMessage.objects.count(), 2)

    def test_same_id_from_another_provider_is_another_message(self):
        receive(inbound("Hi", "X1", "twilio"))
        _, created = receive(inbound("Hi", "X1", "messagebird"))
        self.assertTrue(created)

    @override_settings(
        SMS_OUTBOX_HELP_REPLY="Acme: reply STOP to stop.",
        SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
    )
    def test_help_queues_the_reply_from_the_number_texted(self):
        row, _ = receive(inbound("help"))
        self.assertEqual(row.action, "help")
        reply = Message.objects.get()
        self.assertEqual(
            (reply.body, reply.originator, reply.recipient),
            ("Acme: reply STOP to stop.", OUR_NUMBER, CUSTOMER),
        )
        # A replay does not answer twice.
        receive(inbound("help"))
        self.assertEqual(Message.objects.count(), 1)

    def test_help_without_a_reply_setting_queues_nothing(self):
        receive(inbound("HELP"))
        self.assertFalse(Message.objects.exists())

    @override_settings(
        SMS_OUTBOX_HELP_REPLY="Acme: reply START to resume.",
        SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
    )
    def test_help_from_an_opted_out_number_is_stored_but_not_answered(self):
        suppress(CUSTOMER, "STOP", Suppression.Source.KEYWORD)
        with self.assertLogs("sms_outbox.optout", "WARNING"):
            _, created = receive(inbound("HELP"))
        self.assertTrue(created)
        self.assertFalse(Message.objects.exists())

    def test_a_failing_receiver_does_not_undo_the_message(self):
        def broken(**kwargs):
            raise RuntimeError("receiver bug")

        sms_received.connect(broken)
        self.addCleanup(sms_received.disconnect, broken)
        with self.assertLogs(level="ERROR"):
            with self.captureOnCommitCallbacks(execute=True):
                receive(inbound("STOP"))
        self.assertTrue(InboundMessage.objects.exists())
        self.assertTrue(Suppression.objects.exists())

    def test_str_masks_the_sender(self):
        row, _ = receive(inbound("Hi"))
        self.assertEqual(str(row), "SMS from +4411****0000 (twilio)")
        self.assertEqual(str(InboundMessage()), "SMS from  ()")
