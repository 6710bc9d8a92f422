"""Vonage delivery receipts: signed, recorded once, never regressing."""

import datetime
import json
import time
from urllib.parse import urlencode

from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.test import SimpleTestCase, TestCase, override_settings

from sms_outbox.models import Message, Receipt
from sms_outbox.webhooks.vonage import parse_vonage
from tests.support.receipts import VONAGE_ID, make_row
from tests.support.receipts import VONAGE_PATH as PATH
from tests.support.receipts import VONAGE_SETTINGS as SETTINGS
from tests.support.receipts import vonage_receipt as receipt


class ParseTests(SimpleTestCase):
    def test_reads_the_receipt_fields(self):
        report = parse_vonage(
            QueryDict(
                urlencode(
                    receipt("failed", **{"client-ref": "f" * 32, "err-code": "6"})
                )
            )
        )
        self.assertEqual(
            (report.provider, report.message_id, report.recipient, report.reference),
            ("vonage", VONAGE_ID, "+441134960000", "f" * 32),
        )
        self.assertEqual((report.status, report.raw_status), ("undelivered", "failed"))
        self.assertEqual(report.error_code, "6")
        self.assertEqual(
            report.timestamp,
            datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc),
        )

    def test_status_table(self):
        for raw, status in [
            ("accepted", "sent"),
            ("buffered", "sent"),
            ("delivered", "delivered"),
            ("expired", "expired"),
            ("failed", "undelivered"),
            ("rejected", "failed"),
            ("unknown", None),
        ]:
            with self.subTest(raw):
                report = parse_vonage(QueryDict(urlencode(receipt(raw))))
                self.assertEqual(report.status, status)
                self.assertEqual(report.error_code, "")

    def test_bad_scts_and_missing_id(self):
        with self.assertRaisesMessage(BadRequest, "scts"):
            parse_vonage(QueryDict(urlencode(receipt(scts="yesterday"))))
        with self.assertRaisesMessage(BadRequest, "messageId"):
            parse_vonage(QueryDict(urlencode(receipt(messageId=""))))


@override_settings(**SETTINGS)
class ViewTests(TestCase):
    def get(self, fields):
        return self.client.get(f"{PATH}?{urlencode(fields)}")

    def test_signed_receipt_is_recorded_once(self):
        row = make_row(provider_message_id=VONAGE_ID)
        response = self.get(receipt("delivered"))
        self.assertEqual((response.status_code, response.content), (200, b"recorded"))
        row.refresh_from_db()
        self.assertEqual(
            (row.delivery_status, row.delivery_status_raw), ("delivered", "delivered")
        )
        self.assertEqual(self.get(receipt("delivered")).content, b"replay")
        self.assertEqual(Receipt.objects.count(), 1)

    def test_an_older_status_never_regresses(self):
        row = make_row(provider_message_id=VONAGE_ID)
        self.get(receipt("delivered", scts="2611301205"))
        self.assertEqual(
            self.get(receipt("buffered", scts="2611301200")).content, b"stale"
        )
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")

    def test_matched_by_client_ref_before_the_id_is_stored(self):
        row = make_row(reference="c" * 32)
        self.get(receipt("delivered", **{"client-ref": "c" * 32}))
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")

    def test_post_form_and_json(self):
        row = make_row(provider_message_id=VONAGE_ID)
        form = urlencode(receipt("accepted", scts="2611301200"))
        response = self.client.post(PATH, form, "application/x-www-form-urlencoded")
        self.assertEqual(response.content, b"recorded")
        body = json.dumps(receipt("delivered", scts="2611301201"))
        response = self.client.post(PATH, body, "application/json")
        self.assertEqual(response.content, b"recorded")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")

    def test_bad_missing_or_stale_signature_is_refused(self):
        row = make_row(provider_message_id=VONAGE_ID)
        forged = receipt("delivered")
        forged["status"] = "failed"
        unsigned = receipt("delivered")
        del unsigned["sig"]
        stale = receipt("delivered", timestamp=str(int(time.time()) - 3600))
        for fields in (forged, unsigned, stale):
            with self.subTest(fields.get("status")):
                self.assertEqual(self.get(fields).status_code, 403)
        with self.settings(VONAGE_SIGNATURE_SECRET="another-secret-0123456789"):
            self.assertEqual(self.get(receipt("delivered")).status_code, 403)
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "")
        self.assertEqual(Message.objects.filter(delivery_status="").count(), 1)

    def test_unknown_message_and_status_are_answered_200(self):
        self.assertEqual(self.get(receipt("delivered")).content, b"unknown message")
        make_row(provider_message_id=VONAGE_ID)
        self.assertEqual(self.get(receipt("unknown")).content, b"unknown status")

    def test_malformed_receipt_is_400(self):
        self.assertEqual(
            self.get(receipt("delivered", msisdn="not-a-number")).status_code, 400
        )
