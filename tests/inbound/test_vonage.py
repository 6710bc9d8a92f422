"""Vonage's inbound-SMS webhook: signed requests stored once, the rest refused."""

import datetime
from urllib.parse import urlencode

from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.test import SimpleTestCase, TestCase, override_settings

from sms_outbox.models import InboundMessage, Suppression
from sms_outbox.signals import sms_received
from sms_outbox.webhooks.vonage import parse_vonage_inbound
from tests.support.inbound import (
    CUSTOMER,
    OUR_NUMBER,
    VONAGE_INBOUND,
    send_vonage_inbound,
    vonage_inbound_fields,
    vonage_sign,
)
from tests.support.receipts import FORM, VONAGE_SETTINGS

MESSAGE_ID = "0A0000001234ABCD"


class ParseTests(SimpleTestCase):
    def parse(self, text="Hi", **fields):
        fields = vonage_inbound_fields(MESSAGE_ID, text, **fields)
        return parse_vonage_inbound(QueryDict(urlencode(fields)))

    def test_reads_the_documented_fields(self):
        sms_in = self.parse(text=" Hello there ")
        self.assertEqual(
            (sms_in.provider, sms_in.provider_message_id, sms_in.sender),
            ("vonage", MESSAGE_ID, CUSTOMER),
        )
        self.assertEqual((sms_in.recipient, sms_in.body), (OUR_NUMBER, " Hello there "))
        self.assertEqual(
            sms_in.received_at,
            datetime.datetime(2026, 11, 30, 12, 0, 5, tzinfo=datetime.timezone.utc),
        )

    def test_a_binary_sms_is_kept_with_an_empty_body(self):
        sms_in = self.parse(type="binary", text="STOP", data="53544f50", udh="0500")
        self.assertEqual(sms_in.body, "")

    def test_malformed_fields_raise_bad_request(self):
        cases = {
            "messageId": {"messageId": ""},
            "long": {"messageId": "x" * 65},
            "msisdn": {"msisdn": "not-a-number"},
            "type": {"type": "vcard"},
            "message-timestamp": {"message-timestamp": "yesterday"},
        }
        for name, fields in cases.items():
            with self.subTest(name), self.assertRaises(BadRequest):
                self.parse(**fields)


@override_settings(**VONAGE_SETTINGS)
class VonageInboundTests(TestCase):
    def setUp(self):
        self.received = []
        receiver = lambda **kw: self.received.append(kw)  # noqa: E731
        sms_received.connect(receiver)
        self.addCleanup(sms_received.disconnect, receiver)

    def test_a_signed_request_is_stored_and_announced_on_commit(self):
        for n, how in enumerate(["json", "form", "get"]):
            with self.subTest(how), self.captureOnCommitCallbacks(execute=True):
                fields = vonage_inbound_fields(f"{MESSAGE_ID[:-1]}{n}", "Hello")
                response = send_vonage_inbound(self.client, fields, how)
            self.assertEqual((response.status_code, response.content), (200, b""))
        rows = InboundMessage.objects.order_by("id")
        self.assertEqual(len(rows), 3)
        self.assertEqual(
            {(r.provider, r.sender, r.recipient, r.body) for r in rows},
            {("vonage", CUSTOMER, OUR_NUMBER, "Hello")},
        )
        self.assertEqual([kw["message"] for kw in self.received], list(rows))

    def test_a_replay_stores_nothing_twice_and_fires_nothing(self):
        fields = vonage_inbound_fields(MESSAGE_ID, "STOP")
        with self.captureOnCommitCallbacks(execute=True):
            send_vonage_inbound(self.client, fields)
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = send_vonage_inbound(self.client, fields, "get")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(InboundMessage.objects.count(), 1)
        self.assertEqual(callbacks, [])
        self.assertEqual(len(self.received), 1)

    def test_stop_suppresses_the_sender_and_start_lifts_it(self):
        send_vonage_inbound(self.client, vonage_inbound_fields(MESSAGE_ID, "Stop "))
        suppression = Suppression.objects.get()
        self.assertEqual(
            (suppression.phone_number, suppression.source), (CUSTOMER, "keyword")
        )
        self.assertIn("vonage", suppression.reason)
        self.assertEqual(InboundMessage.objects.get().action, "opt_out")
        send_vonage_inbound(self.client, vonage_inbound_fields("0A00000099", "START"))
        self.assertFalse(Suppression.objects.exists())

    def test_forged_unsigned_or_stale_requests_are_refused_with_nothing_stored(self):
        fields = vonage_inbound_fields(MESSAGE_ID, "STOP")
        cases = {
            "wrong secret": vonage_sign(fields, secret="not-the-secret"),
            "changed after signing": {**fields, "msisdn": "441134960999"},
            "unsigned": {k: v for k, v in fields.items() if k != "sig"},
            "stale": vonage_sign({**fields, "timestamp": "1700000000"}),
            "no timestamp": vonage_sign(
                {k: v for k, v in fields.items() if k != "timestamp"}
            ),
        }
        for name, forged in cases.items():
            with self.subTest(name):
                response = send_vonage_inbound(self.client, forged)
                self.assertEqual(response.status_code, 403)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_malformed_requests_get_400_with_nothing_stored(self):
        cases = {
            "no id": vonage_inbound_fields("", "STOP"),
            "no sender": vonage_inbound_fields(MESSAGE_ID, "STOP", msisdn=""),
            "bad sender": vonage_inbound_fields(MESSAGE_ID, "STOP", msisdn="abc"),
            "NUL text": vonage_inbound_fields(MESSAGE_ID, "STOP\x00"),
            "long id": vonage_inbound_fields("x" * 80, "STOP"),
        }
        for name, fields in cases.items():
            with self.subTest(name):
                response = send_vonage_inbound(self.client, fields)
                self.assertEqual(response.status_code, 400, response.content)
        for body in [b"{not json", b"[1, 2]"]:
            response = self.client.generic(
                "POST", VONAGE_INBOUND, body, "application/json"
            )
            self.assertEqual(response.status_code, 400)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_oversized_requests_are_refused_before_anything_reads_them(self):
        fields = vonage_inbound_fields(MESSAGE_ID, "STOP", padding="x" * 70_000)
        response = send_vonage_inbound(self.client, fields, "form")
        self.assertEqual(response.status_code, 413)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_other_methods_are_refused(self):
        self.assertEqual(self.client.put(VONAGE_INBOUND).status_code, 405)

    def test_a_bad_content_length_is_refused(self):
        response = self.client.generic(
            "POST", VONAGE_INBOUND, b"", FORM, CONTENT_LENGTH="lots"
        )
        self.assertEqual(response.status_code, 400)
