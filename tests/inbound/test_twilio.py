"""Twilio's incoming-message webhook: signed posts stored once, the rest refused."""

from django.test import TestCase, override_settings

from sms_outbox.models import InboundMessage, Suppression
from sms_outbox.signals import sms_received
from tests.support.inbound import (
    CUSTOMER,
    OUR_NUMBER,
    TWILIO_INBOUND,
    post_twilio_inbound,
    twilio_inbound_fields,
)
from tests.support.receipts import FORM, SETTINGS, twilio_signature

SID = "SM" + "a" * 32


@override_settings(**SETTINGS)
class TwilioInboundTests(TestCase):
    def setUp(self):
        self.received = []
        receiver = lambda **kw: self.received.append(kw)  # noqa: E731
        sms_received.connect(receiver)
        self.addCleanup(sms_received.disconnect, receiver)

    def test_a_signed_post_is_stored_and_announced_on_commit(self):
        with self.captureOnCommitCallbacks(execute=True):
            response = post_twilio_inbound(
                self.client, twilio_inbound_fields(SID, " Hello there ")
            )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/xml")
        self.assertEqual(
            response.content.decode(),
            '<?xml version="1.0" encoding="UTF-8"?><Response/>',
        )
        row = InboundMessage.objects.get()
        self.assertEqual(
            (row.provider, row.provider_message_id, row.sender, row.recipient),
            ("twilio", SID, CUSTOMER, OUR_NUMBER),
        )
        self.assertEqual(row.body, " Hello there ")
        self.assertEqual(row.action, "")
        self.assertEqual(len(self.received), 1)
        self.assertEqual(self.received[0]["message"], row)

    def test_a_replay_stores_nothing_twice_and_fires_nothing(self):
        fields = twilio_inbound_fields(SID, "Hello")
        with self.captureOnCommitCallbacks(execute=True):
            post_twilio_inbound(self.client, fields)
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = post_twilio_inbound(self.client, fields)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(InboundMessage.objects.count(), 1)
        self.assertEqual(callbacks, [])
        self.assertEqual(len(self.received), 1)

    def test_stop_suppresses_the_sender_and_start_lifts_it(self):
        post_twilio_inbound(self.client, twilio_inbound_fields(SID, "stop"))
        suppression = Suppression.objects.get()
        self.assertEqual(
            (suppression.phone_number, suppression.source), (CUSTOMER, "keyword")
        )
        self.assertEqual(InboundMessage.objects.get().action, "opt_out")
        post_twilio_inbound(
            self.client, twilio_inbound_fields("SM" + "b" * 32, "START")
        )
        self.assertFalse(Suppression.objects.exists())

    def test_forged_signature_is_refused_with_nothing_stored(self):
        fields = twilio_inbound_fields(SID, "STOP")
        forged = twilio_signature(
            "http://testserver" + TWILIO_INBOUND, fields, token="wrong-token"
        )
        for signature in [forged, ""]:
            response = post_twilio_inbound(self.client, fields, signature=signature)
            self.assertEqual(response.status_code, 403)
        # Signed, then changed on the way: the signature no longer matches.
        signature = twilio_signature(
            "http://testserver" + TWILIO_INBOUND, twilio_inbound_fields(SID, "Hi")
        )
        response = post_twilio_inbound(self.client, fields, signature=signature)
        self.assertEqual(response.status_code, 403)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_malformed_posts_get_400_with_nothing_stored(self):
        cases = {
            "no sid": twilio_inbound_fields("", "Hi", SmsSid=""),
            "no sender": twilio_inbound_fields(SID, "Hi", From=""),
            "bad sender": twilio_inbound_fields(SID, "Hi", From="not-a-number"),
            "NUL body": twilio_inbound_fields(SID, "STOP\x00"),
            "long sid": twilio_inbound_fields("SM" + "x" * 80, "Hi"),
        }
        for name, fields in cases.items():
            with self.subTest(name):
                response = post_twilio_inbound(self.client, fields)
                self.assertEqual(response.status_code, 400, response.content)
        self.assertFalse(InboundMessage.objects.exists())

    def test_oversized_posts_are_refused_before_anything_reads_them(self):
        fields = twilio_inbound_fields(SID, "STOP", Padding="x" * 70_000)
        response = post_twilio_inbound(self.client, fields)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_only_post_is_allowed(self):
        self.assertEqual(self.client.get(TWILIO_INBOUND).status_code, 405)

    def test_a_bad_content_length_is_refused(self):
        response = self.client.generic(
            "POST", TWILIO_INBOUND, b"", FORM, CONTENT_LENGTH="lots"
        )
        self.assertEqual(response.status_code, 400)
