"""Queue, drain to fake providers over real HTTP, then post their signed reports."""

from urllib.parse import urlencode, urlsplit

from django.db import connections
from django.test import Client, TestCase, TransactionTestCase, override_settings

import sms
from sms.backends.messagebird import SmsBackend as MessageBirdBackend
from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.backends.vonage import SmsBackend as VonageBackend
from sms.testing import FakeMessageBird, FakeTwilio, FakeVonage
from sms_outbox.drain import run as engine
from sms_outbox.models import Message, Receipt
from tests.support.receipts import FORM, MESSAGEBIRD_PATH, TWILIO_PATH

RECIPIENTS = ["+441134960000", "+12065550100", "+31612345678"]


class TwilioToFake(TwilioBackend):
    """The real Twilio backend, pointed at the test's ``FakeTwilio``."""

    fake = None

    def __init__(self, *args, **kwargs):
        kwargs.update(
            api_url=self.fake.url,
            account_sid=self.fake.account_sid,
            auth_token=self.fake.auth_token,
        )
        super().__init__(*args, **kwargs)


class MessageBirdToFake(MessageBirdBackend):
    """The real MessageBird backend, pointed at the test's ``FakeMessageBird``."""

    fake = None

    def __init__(self, *args, **kwargs):
        kwargs.update(api_url=self.fake.url, access_key=self.fake.access_key)
        super().__init__(*args, **kwargs)


class VonageToFake(VonageBackend):
    """The real Vonage backend, pointed at the test's ``FakeVonage``."""

    fake = None

    def __init__(self, *args, **kwargs):
        kwargs.update(
            api_url=self.fake.url,
            api_key=self.fake.api_key,
            api_secret=self.fake.api_secret,
        )
        super().__init__(*args, **kwargs)


def deliver(report, client):
    """Send ``report`` (a fake provider's StatusReport) to the test client."""
    parts = urlsplit(report.url)
    headers = {
        "HTTP_" + name.upper().replace("-", "_"): value
        for name, value in report.headers.items()
    }
    if report.method == "GET":
        return client.get(f"{parts.path}?{parts.query}", **headers)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return client.post(path, urlencode(report.params), FORM, **headers)


@override_settings(SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend")
class EndToEndTests(TestCase):
    def queue_and_drain(self):
        sms.Message("Your code is 1234", "+14155552671", RECIPIENTS).send()
        engine.send_queued()
        rows = list(Message.objects.order_by("pk"))
        self.assertEqual([r.status for r in rows], ["sent"] * 3)
        return rows

    def assertAllDelivered(self, reports):
        self.assertEqual(len(reports), 3)
        for report in reports:
            self.assertEqual(deliver(report, self.client).status_code, 200)
        self.assertEqual(
            list(Message.objects.values_list("delivery_status", flat=True)),
            ["delivered"] * 3,
        )
        self.assertEqual(Receipt.objects.count(), 3)

    def test_twilio_callbacks_reach_the_rows_the_outbox_sent(self):
        fake = self.enterContext(FakeTwilio())
        TwilioToFake.fake = fake
        callback = "http://testserver" + TWILIO_PATH
        with self.settings(
            SMS_OUTBOX_BACKEND="tests.receipts.test_end_to_end.TwilioToFake",
            SMS_STATUS_CALLBACK_URL=callback,
            TWILIO_AUTH_TOKEN=fake.auth_token,
        ):
            rows = self.queue_and_drain()
            # Each callback URL carries its row's reference, signed with it.
            self.assertEqual(
                sorted(m["status_callback"] for m in fake.messages),
                sorted(f"{callback}?reference={row.reference}" for row in rows),
            )
            self.assertAllDelivered(fake.status_reports("delivered"))

    def test_messagebird_reports_match_by_reference_before_the_id_is_stored(self):
        fake = self.enterContext(FakeMessageBird())
        MessageBirdToFake.fake = fake
        with self.settings(
            SMS_OUTBOX_BACKEND="tests.receipts.test_end_to_end.MessageBirdToFake",
            SMS_STATUS_CALLBACK_URL="http://testserver" + MESSAGEBIRD_PATH,
            MESSAGEBIRD_SIGNING_KEY=fake.signing_key,
        ):
            rows = self.queue_and_drain()
            # One grouped call: its reference is on every row it carried.
            self.assertEqual(len(fake.messages), 1)
            self.assertEqual(
                {r.reference for r in rows}, {fake.messages[0]["reference"]}
            )
            # A report can beat the drain's write of the provider's id.
            Message.objects.update(provider_message_id="")
            self.assertAllDelivered(fake.status_reports("delivered"))

    def test_vonage_receipts_reach_the_rows_the_outbox_sent(self):
        fake = self.enterContext(FakeVonage())
        VonageToFake.fake = fake
        with self.settings(
            SMS_OUTBOX_BACKEND="tests.receipts.test_end_to_end.VonageToFake",
            SMS_STATUS_CALLBACK_URL="http://testserver/sms/receipts/vonage/",
            VONAGE_SIGNATURE_SECRET=fake.signature_secret,
            VONAGE_SIGNATURE_METHOD=fake.signature_method,
        ):
            rows = self.queue_and_drain()
            # client-ref is each row's reference: receipts match on it too.
            self.assertEqual(
                sorted(m["client-ref"] for m in fake.messages),
                sorted(r.reference for r in rows),
            )
            Message.objects.update(provider_message_id="")
            self.assertAllDelivered(fake.status_reports("delivered"))


@override_settings(SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend")
class ReceiptRacesTheDrainTests(TransactionTestCase):
    """A receipt that arrives while the provider call is still open is kept."""

    def test_twilio_callback_posted_during_the_provider_call(self):
        fake = self.enterContext(FakeTwilio())
        TwilioToFake.fake = fake
        answers = []

        def accept_then_call_back(request):
            # Twilio answers the API call; its first callback can reach the
            # site before the drain has written the SID.
            reply = fake.respond(request)
            [report] = fake.status_reports("undelivered")
            try:
                answers.append(deliver(report, Client()).content)
            finally:
                connections.close_all()
            return reply

        fake.script(accept_then_call_back)
        with self.settings(
            SMS_OUTBOX_BACKEND="tests.receipts.test_end_to_end.TwilioToFake",
            SMS_STATUS_CALLBACK_URL="http://testserver" + TWILIO_PATH,
            TWILIO_AUTH_TOKEN=fake.auth_token,
        ):
            sms.Message("Your code is 1234", "+14155552671", RECIPIENTS[:1]).send()
            result = engine.send_queued()
        self.assertEqual(answers, [b"recorded"])  # found by its reference
        self.assertEqual(result.sent, 1)
        row = Message.objects.get()
        self.assertEqual(row.status, "sent")
        self.assertEqual(row.provider_message_id, fake.messages[0]["sid"])
        self.assertEqual(
            (row.delivery_status, row.delivery_status_raw),
            ("undelivered", "undelivered"),
        )
