"""Receipts never undo a final status, come from the future, or cross providers."""

import datetime
from urllib.parse import urlencode

from django.test import TestCase, override_settings
from django.utils import timezone

from sms.backends.twilio import SmsBackend as TwilioBackend
from sms_outbox.models import Message, Receipt
from tests.support.receipts import (
    SETTINGS,
    VONAGE_ID,
    VONAGE_PATH,
    VONAGE_SETTINGS,
    get_messagebird,
    make_row,
    messagebird_query,
    post_twilio,
    twilio_fields,
    vonage_receipt,
)

MB_ID = "e8077d803532c0b5937c639b60216938"


class HouseBackend(TwilioBackend):
    """A project's own backend: Twilio's, under a name that does not say so."""


SID = "SM" + "d" * 32


@override_settings(**SETTINGS, **VONAGE_SETTINGS)
class FinalStatusTests(TestCase):
    def messagebird(self, status, when):
        query = messagebird_query(MB_ID, status, "441134960000", when=when)
        return get_messagebird(self.client, query)

    def vonage(self, status, scts):
        return self.client.get(
            f"{VONAGE_PATH}?{urlencode(vonage_receipt(status, scts=scts))}"
        )

    def test_a_later_messagebird_sent_never_undoes_delivered(self):
        row = make_row(provider_message_id=MB_ID)
        self.messagebird("delivered", "2026-05-03T10:00:00+00:00")
        response = self.messagebird("sent", "2026-05-03T10:01:00+00:00")
        self.assertEqual(response.content, b"stale")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")
        self.assertEqual(
            list(row.receipts.values_list("status", flat=True)), ["delivered"]
        )

    def test_a_later_vonage_accepted_never_undoes_delivered(self):
        row = make_row(provider_message_id=VONAGE_ID)
        self.vonage("delivered", "2611301200")
        self.assertEqual(self.vonage("accepted", "2611301201").content, b"stale")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")

    def test_a_later_final_status_still_replaces_a_final_one(self):
        row = make_row(provider_message_id=VONAGE_ID)
        self.vonage("delivered", "2611301200")
        self.assertEqual(self.vonage("failed", "2611301201").content, b"recorded")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "undelivered")

    def test_a_report_from_the_future_is_refused_and_freezes_nothing(self):
        row = make_row(provider_message_id=MB_ID)
        with self.assertLogs("sms_outbox.webhooks.base", "WARNING") as logs:
            response = self.messagebird("sent", "9999-12-31T00:00:00+00:00")
        self.assertEqual(response.status_code, 400)
        self.assertIn("in the future", response.content.decode())
        self.assertIn("status report", logs.output[0])
        soon = timezone.now() + datetime.timedelta(minutes=20)
        self.assertEqual(self.messagebird("sent", soon.isoformat()).status_code, 400)
        # A report stamped now is still taken, and later ones after it.
        self.assertEqual(
            self.messagebird("sent", timezone.now().isoformat()).content, b"recorded"
        )
        self.assertEqual(
            self.vonage("delivered", timezone.now().strftime("%y%m%d%H%M")).content,
            b"unknown message",  # the Vonage id names no row: parsed, not refused
        )
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "sent")

    def test_a_vonage_scts_from_the_future_is_refused(self):
        make_row(provider_message_id=VONAGE_ID)
        self.assertEqual(self.vonage("delivered", "6812312359").status_code, 400)
        self.assertFalse(Receipt.objects.exists())


@override_settings(**SETTINGS)
class ProviderTests(TestCase):
    def test_a_twilio_callback_cannot_change_a_messagebird_row(self):
        row = make_row(
            provider_message_id=MB_ID,
            reference="r" * 32,
            backend="sms.backends.messagebird.SmsBackend",
        )
        url = "http://testserver/sms/receipts/twilio/?reference=" + "r" * 32
        response = post_twilio(
            self.client,
            twilio_fields(SID, "failed"),
            url=url,
            path="/sms/receipts/twilio/?reference=" + "r" * 32,
        )
        self.assertEqual(response.content, b"unknown message")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "")
        self.assertFalse(Receipt.objects.exists())

    def test_a_twilio_callback_still_finds_a_twilio_row_by_reference(self):
        row = make_row(reference="t" * 32, backend="sms.backends.twilio.SmsBackend")
        path = "/sms/receipts/twilio/?reference=" + "t" * 32
        response = post_twilio(
            self.client,
            twilio_fields(SID, "delivered"),
            url="http://testserver" + path,
            path=path,
        )
        self.assertEqual(response.content, b"recorded")
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, Message.DeliveryStatus.DELIVERED)
        receipt = row.receipts.get()
        self.assertEqual((receipt.provider, receipt.status), ("twilio", "delivered"))

    def test_a_subclass_of_a_provider_backend_counts_as_that_provider(self):
        path = "/sms/receipts/twilio/?reference=" + "h" * 32
        row = make_row(
            reference="h" * 32,
            provider_message_id=MB_ID,
            backend=f"{__name__}.HouseBackend",
        )
        response = post_twilio(
            self.client,
            twilio_fields(SID, "sent"),
            url="http://testserver" + path,
            path=path,
        )
        self.assertEqual(response.content, b"recorded")
        query = messagebird_query(MB_ID, "delivered", "441134960000")
        self.assertEqual(
            get_messagebird(self.client, query).content, b"unknown message"
        )
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "sent")
