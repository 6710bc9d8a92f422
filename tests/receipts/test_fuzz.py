"""Arbitrary signed and unsigned input never makes an endpoint fail with a 500."""

from django.http import QueryDict
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from tests.support.fuzz import FUZZ, encode, text
from tests.support.receipts import (
    FORM,
    MESSAGEBIRD_PATH,
    SETTINGS,
    TWILIO_PATH,
    make_row,
    messagebird_jwt,
    twilio_signature,
)

SID = "SM" + "d" * 32
MB_ID = "e8077d803532c0b5937c639b60216938"

names = st.sampled_from(
    [
        "MessageSid",
        "SmsSid",
        "MessageStatus",
        "SmsStatus",
        "To",
        "ErrorCode",
        "id",
        "recipient",
        "status",
        "statusDatetime",
        "reference",
        "statusErrorCode",
    ]
)
values = text | st.sampled_from(
    [
        SID,
        MB_ID,
        "delivered",
        "sent",
        "delivery_failed",
        "+441134960000",
        "31612345678",
        "2026-05-03T08:58:10+00:00",
        "9999-12-31T23:59:59-12:00",
    ]
)
fields = st.lists(st.tuples(names | text, values), max_size=8)


@override_settings(**SETTINGS)
class FuzzTests(TestCase):
    def setUp(self):
        make_row(provider_message_id=SID)
        make_row(recipient="+31612345678", provider_message_id=MB_ID)

    def assertHandled(self, response, allowed=(200, 400)):
        self.assertIn(response.status_code, allowed, response.content[:200])

    @FUZZ
    @given(fields, fields)
    def test_signed_twilio_form_data_and_query_strings(self, pairs, query):
        body = encode(pairs)
        path = f"{TWILIO_PATH}?{encode(query)}" if query else TWILIO_PATH
        # Sign what Django will parse, exactly as Twilio signs what it posts.
        signature = twilio_signature("http://testserver" + path, QueryDict(body))
        response = self.client.post(
            path, body, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
        )
        self.assertHandled(response)

    @FUZZ
    @given(fields)
    def test_signed_messagebird_query_strings(self, pairs):
        # Django rebuilds "path?" without the "?", and so would MessageBird.
        path = f"{MESSAGEBIRD_PATH}?{encode(pairs)}" if pairs else MESSAGEBIRD_PATH
        token = messagebird_jwt("http://testserver" + path)
        response = self.client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token)
        self.assertHandled(response)

    @FUZZ
    @given(
        st.binary(max_size=200),
        st.sampled_from([FORM, "application/json", "multipart/form-data"]),
    )
    def test_signed_messagebird_bodies(self, body, content_type):
        token = messagebird_jwt("http://testserver" + MESSAGEBIRD_PATH, body)
        response = self.client.generic(
            "POST",
            MESSAGEBIRD_PATH,
            body,
            content_type,
            HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
        )
        self.assertHandled(response)

    @FUZZ
    @given(fields, text)
    def test_unsigned_or_forged_requests(self, pairs, signature):
        body = encode(pairs)
        response = self.client.post(
            TWILIO_PATH, body, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
        )
        self.assertEqual(response.status_code, 403)
        response = self.client.get(
            f"{MESSAGEBIRD_PATH}?{body}", HTTP_MESSAGEBIRD_SIGNATURE_JWT=signature
        )
        self.assertEqual(response.status_code, 403)
