"""MessageBird's inbound-SMS webhook: signed requests stored once, the rest refused."""

import datetime
from urllib.parse import urlencode

from django.test import TestCase, override_settings

from sms_outbox.models import InboundMessage, Suppression
from tests.support.inbound import (
    CUSTOMER,
    MESSAGEBIRD_INBOUND,
    OUR_NUMBER,
    get_messagebird_inbound,
    messagebird_inbound_fields,
    post_messagebird_inbound,
)
from tests.support.receipts import SETTINGS, messagebird_jwt

MB_ID = "f7a7d6c9d1b84d3c8a2f0a1b2c3d4e5f"


@override_settings(**SETTINGS)
class MessageBirdInboundTests(TestCase):
    def test_signed_get_is_stored_once(self):
        fields = messagebird_inbound_fields(MB_ID, "Hello")
        self.assertEqual(get_messagebird_inbound(self.client, fields).status_code, 200)
        self.assertEqual(get_messagebird_inbound(self.client, fields).status_code, 200)
        row = InboundMessage.objects.get()
        self.assertEqual(
            (
                row.provider,
                row.provider_message_id,
                row.sender,
                row.recipient,
                row.body,
            ),
            ("messagebird", MB_ID, CUSTOMER, OUR_NUMBER, "Hello"),
        )
        self.assertEqual(
            row.received_at,
            datetime.datetime(2026, 5, 3, 8, 58, 10, tzinfo=datetime.timezone.utc),
        )

    def test_signed_form_and_json_posts_are_stored(self):
        post_messagebird_inbound(self.client, messagebird_inbound_fields("one", "Hi"))
        response = post_messagebird_inbound(
            self.client, messagebird_inbound_fields("two", "STOP"), as_json=True
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            sorted(InboundMessage.objects.values_list("provider_message_id", "action")),
            [("one", ""), ("two", "opt_out")],
        )
        self.assertEqual(Suppression.objects.get().phone_number, CUSTOMER)

    def test_older_message_field_is_read(self):
        fields = messagebird_inbound_fields(MB_ID, None)
        del fields["body"]
        fields["message"] = "START"
        get_messagebird_inbound(self.client, fields)
        self.assertEqual(InboundMessage.objects.get().action, "opt_in")

    def test_forged_requests_are_refused_with_nothing_stored(self):
        fields = messagebird_inbound_fields(MB_ID, "STOP")
        path = f"{MESSAGEBIRD_INBOUND}?{urlencode(fields)}"
        cases = {
            "no token": "",
            "wrong key": messagebird_jwt(
                "http://testserver" + path, key="wrong-signing-key-for-tests-0123456789"
            ),
            "other url": messagebird_jwt("http://testserver" + MESSAGEBIRD_INBOUND),
        }
        for name, token in cases.items():
            with self.subTest(name):
                response = self.client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token)
                self.assertEqual(response.status_code, 403)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertFalse(Suppression.objects.exists())

    def test_malformed_requests_get_400_with_nothing_stored(self):
        cases = {
            "no id": messagebird_inbound_fields("", "Hi"),
            "no originator": messagebird_inbound_fields(MB_ID, "Hi", originator=""),
            "bad originator": messagebird_inbound_fields(MB_ID, "Hi", originator="x"),
            "bad time": messagebird_inbound_fields(MB_ID, "Hi", createdDatetime="soon"),
        }
        for name, fields in cases.items():
            with self.subTest(name):
                response = get_messagebird_inbound(self.client, fields)
                self.assertEqual(response.status_code, 400, response.content)
        body = b"[1, 2]"
        token = messagebird_jwt("http://testserver" + MESSAGEBIRD_INBOUND, body)
        response = self.client.generic(
            "POST",
            MESSAGEBIRD_INBOUND,
            body,
            "application/json",
            HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(InboundMessage.objects.exists())

    def test_oversized_posts_are_refused(self):
        fields = messagebird_inbound_fields(MB_ID, "STOP" + " " * 70_000)
        response = post_messagebird_inbound(self.client, fields)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(InboundMessage.objects.exists())
