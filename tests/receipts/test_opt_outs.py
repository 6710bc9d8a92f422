"""A receipt whose error code says the recipient opted out suppresses the number."""

from urllib.parse import urlencode

from django.http import QueryDict
from django.test import SimpleTestCase, TestCase, override_settings

import sms
from sms.exceptions import RecipientOptedOut
from sms_outbox.models import Message, Suppression, SuppressionChange
from sms_outbox.webhooks.messagebird import parse_messagebird
from sms_outbox.webhooks.twilio import OPT_OUT_ERRORS, parse_twilio
from sms_outbox.webhooks.vonage import parse_vonage
from tests.support.receipts import (
    SETTINGS,
    VONAGE_ID,
    VONAGE_PATH,
    VONAGE_SETTINGS,
    make_row,
    messagebird_query,
    post_twilio,
    twilio_fields,
)
from tests.support.receipts import vonage_receipt as receipt

A = "+441134960000"
SID = "SM" + "b" * 32
QUEUED = "sms_outbox.backends.QueuedSmsBackend"


class ParseTests(SimpleTestCase):
    def test_twilio_21610_is_an_opt_out_and_other_codes_are_not(self):
        self.assertEqual(OPT_OUT_ERRORS, {"21610"})
        for code, opted_out in [("21610", True), ("30003", False), ("", False)]:
            with self.subTest(code):
                fields = twilio_fields(SID, "failed", ErrorCode=code)
                report = parse_twilio(QueryDict(urlencode(fields)))
                self.assertEqual(report.opted_out, opted_out)

    def test_vonage_err_code_9_is_an_opt_out_and_others_are_not(self):
        for code, opted_out in [("9", True), ("4", False), ("0", False)]:
            with self.subTest(code):
                fields = receipt("failed", **{"err-code": code})
                report = parse_vonage(QueryDict(urlencode(fields)))
                self.assertEqual(report.opted_out, opted_out)

    def test_messagebird_reports_never_claim_an_opt_out(self):
        # No statusErrorCode of MessageBird's is documented as an opt-out.
        query = messagebird_query("m" * 32, "delivery_failed", statusErrorCode="9")
        self.assertFalse(parse_messagebird(QueryDict(query)).opted_out)


@override_settings(**SETTINGS, **VONAGE_SETTINGS)
class ReceiptOptOutTests(TestCase):
    def assertSuppressedByProvider(self, code):
        suppression = Suppression.objects.get(phone_number=A)
        self.assertEqual(suppression.source, "provider")
        self.assertIn(f"code {code}", suppression.reason)
        self.assertEqual(SuppressionChange.objects.get().source, "provider")
        # The next SMS to that number is refused before it is stored.
        with self.assertRaises(RecipientOptedOut):
            sms.send_sms("Hi", "Acme", [A], connection=sms.get_connection(QUEUED))

    def test_a_twilio_callback_with_21610_suppresses_the_number(self):
        row = make_row(recipient=A, provider_message_id=SID)
        fields = twilio_fields(SID, "failed", to=A, ErrorCode="21610")
        response = post_twilio(self.client, fields)
        self.assertEqual((response.status_code, response.content), (200, b"recorded"))
        row.refresh_from_db()
        self.assertEqual(
            (row.delivery_status, row.delivery_error_code), ("failed", "21610")
        )
        self.assertSuppressedByProvider("21610")

    def test_without_a_to_field_the_row_names_the_number(self):
        make_row(recipient=A, provider_message_id=SID)
        fields = twilio_fields(SID, "failed", ErrorCode="21610")
        del fields["To"]
        self.assertEqual(post_twilio(self.client, fields).status_code, 200)
        self.assertSuppressedByProvider("21610")

    def test_a_vonage_receipt_with_err_code_9_suppresses_the_number(self):
        make_row(recipient=A, provider_message_id=VONAGE_ID)
        fields = receipt("failed", msisdn=A[1:], **{"err-code": "9"})
        response = self.client.get(f"{VONAGE_PATH}?{urlencode(fields)}")
        self.assertEqual((response.status_code, response.content), (200, b"recorded"))
        self.assertSuppressedByProvider("9")

    def test_a_replayed_or_unmatched_opt_out_receipt_still_suppresses_once(self):
        fields = receipt("rejected", msisdn=A[1:], **{"err-code": "9"})
        for _ in range(2):
            response = self.client.get(f"{VONAGE_PATH}?{urlencode(fields)}")
            self.assertEqual(response.content, b"unknown message")
        self.assertSuppressedByProvider("9")

    def test_other_error_codes_suppress_nothing(self):
        make_row(recipient=A, provider_message_id=SID)
        post_twilio(self.client, twilio_fields(SID, "undelivered", ErrorCode="30003"))
        fields = receipt("failed", msisdn=A[1:], **{"err-code": "4"})
        self.client.get(f"{VONAGE_PATH}?{urlencode(fields)}")
        self.assertFalse(Suppression.objects.exists())
        self.assertEqual(Message.objects.get().delivery_status, "undelivered")

    def test_a_forged_opt_out_receipt_suppresses_nothing(self):
        fields = receipt("failed", msisdn=A[1:], **{"err-code": "9"})
        fields["sig"] = "0" * len(fields["sig"])
        response = self.client.get(f"{VONAGE_PATH}?{urlencode(fields)}")
        self.assertEqual(response.status_code, 403)
        self.assertFalse(Suppression.objects.exists())
