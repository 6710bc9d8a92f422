"""Arbitrary signed and unsigned input never makes an inbound endpoint answer 500."""

import json
import time
from urllib.parse import urlencode

from django.http import QueryDict
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from sms_outbox.webhooks import aws as sns
from tests.support.fuzz import FUZZ, encode, text
from tests.support.inbound import (
    MESSAGEBIRD_INBOUND,
    TWILIO_INBOUND,
    VONAGE_INBOUND,
    vonage_sign,
)
from tests.support.receipts import (
    FORM,
    SETTINGS,
    VONAGE_SETTINGS,
    messagebird_jwt,
    twilio_signature,
)
from tests.support.sns import TOPIC_ARN, FakeSns, post_sns

names = st.sampled_from(
    [
        "MessageSid",
        "SmsSid",
        "From",
        "To",
        "Body",
        "id",
        "originator",
        "recipient",
        "body",
        "message",
        "createdDatetime",
        "msisdn",
        "to",
        "messageId",
        "text",
        "type",
        "keyword",
        "message-timestamp",
        "originationNumber",
        "destinationNumber",
        "messageBody",
        "inboundMessageId",
        "messageKeyword",
    ]
)
values = text | st.sampled_from(
    [
        "SM" + "d" * 32,
        "STOP",
        " start ",
        "HELP",
        "+441134960000",
        "441134960000",
        "2026-05-03T08:58:10+00:00",
        "9999-12-31T23:59:59-12:00",
        "x" * 80,
        "0A0000001234ABCD",
        "binary",
        "unicode",
        "2026-11-30 12:00:05",
        "cae173d2-66b9-564c-8309-21f858e9fb84",
    ]
)
fields = st.lists(st.tuples(names | text, values), max_size=8)


@override_settings(
    **SETTINGS,
    **VONAGE_SETTINGS,
    SMS_OUTBOX_HELP_REPLY="Reply STOP to stop.",
    SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
)
class InboundFuzzTests(TestCase):
    def assertHandled(self, response, allowed=(200, 400)):
        self.assertIn(response.status_code, allowed, response.content[:200])

    @FUZZ
    @given(fields, fields)
    def test_signed_twilio_posts(self, pairs, query):
        body = encode(pairs)
        path = f"{TWILIO_INBOUND}?{encode(query)}" if query else TWILIO_INBOUND
        signature = twilio_signature("http://testserver" + path, QueryDict(body))
        response = self.client.post(
            path, body, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
        )
        self.assertHandled(response)

    @FUZZ
    @given(fields)
    def test_signed_messagebird_query_strings(self, pairs):
        path = (
            f"{MESSAGEBIRD_INBOUND}?{encode(pairs)}" if pairs else MESSAGEBIRD_INBOUND
        )
        token = messagebird_jwt("http://testserver" + path)
        response = self.client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token)
        self.assertHandled(response)

    @FUZZ
    @given(
        st.binary(max_size=200),
        st.sampled_from([FORM, "application/json", "multipart/form-data"]),
    )
    def test_signed_messagebird_bodies(self, body, content_type):
        token = messagebird_jwt("http://testserver" + MESSAGEBIRD_INBOUND, body)
        response = self.client.generic(
            "POST",
            MESSAGEBIRD_INBOUND,
            body,
            content_type,
            HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
        )
        self.assertHandled(response)

    @FUZZ
    @given(fields, st.sampled_from(["get", "form", "json"]))
    def test_signed_vonage_requests(self, pairs, how):
        # Signed as the endpoint reads them: the last value of each name, and
        # a fresh timestamp, so the fuzzed fields reach the parser.
        signed = vonage_sign({**dict(pairs), "timestamp": str(int(time.time()))})
        if how == "get":
            response = self.client.get(f"{VONAGE_INBOUND}?{urlencode(signed)}")
        elif how == "form":
            response = self.client.post(VONAGE_INBOUND, urlencode(signed), FORM)
        else:
            response = self.client.post(
                VONAGE_INBOUND, json.dumps(signed), "application/json"
            )
        self.assertHandled(response)

    @FUZZ
    @given(st.binary(max_size=200), st.sampled_from([FORM, "application/json"]))
    def test_unsigned_vonage_bodies(self, body, content_type):
        response = self.client.generic("POST", VONAGE_INBOUND, body, content_type)
        self.assertHandled(response, allowed=(400, 403))

    @FUZZ
    @given(fields, text)
    def test_unsigned_or_forged_requests(self, pairs, signature):
        body = encode(pairs)
        response = self.client.post(
            TWILIO_INBOUND, body, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
        )
        self.assertEqual(response.status_code, 403)
        response = self.client.get(
            f"{MESSAGEBIRD_INBOUND}?{body}", HTTP_MESSAGEBIRD_SIGNATURE_JWT=signature
        )
        self.assertEqual(response.status_code, 403)
        forged = {**dict(pairs), "sig": signature, "timestamp": str(int(time.time()))}
        response = self.client.get(f"{VONAGE_INBOUND}?{urlencode(forged)}")
        self.assertEqual(response.status_code, 403)


class AwsInboundFuzzTests(TestCase):
    """Signed SNS notifications with any SMS inside, and any unsigned body."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeSns().start()
        cls.addClassCleanup(cls.fake.stop)
        # A key cached, or a failure remembered, for an earlier fake on this port.
        sns._keys.clear()
        sns._failures.clear()
        cls.enterClassContext(
            override_settings(
                AWS_SNS_INBOUND_TOPIC_ARNS=[TOPIC_ARN],
                AWS_SNS_CERT_HOSTS=[cls.fake.host],
            )
        )

    @FUZZ
    @given(fields | st.lists(st.tuples(names, text | st.integers() | st.none())))
    def test_signed_notifications(self, pairs):
        message = self.fake.notification({})
        message["Message"] = json.dumps(dict(pairs))
        response = post_sns(self.client, self.fake.sign(message))
        self.assertIn(response.status_code, (200, 400), response.content[:200])

    @FUZZ
    @given(st.binary(max_size=300) | text.map(str.encode), text)
    def test_unsigned_bodies(self, body, message_type):
        response = self.client.generic(
            "POST",
            "/sms/inbound/aws/",
            body,
            "text/plain",
            HTTP_X_AMZ_SNS_MESSAGE_TYPE=message_type,
        )
        self.assertIn(response.status_code, (400, 403), response.content[:200])
