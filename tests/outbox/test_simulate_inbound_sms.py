"""simulate_inbound_sms: a signed inbound SMS through the real webhook."""

import io

from django.core.management import CommandError, call_command
from django.test import LiveServerTestCase, TestCase, override_settings

import sms
from sms.exceptions import RecipientOptedOut
from sms_outbox.models import InboundMessage, Suppression
from tests.support.receipts import SETTINGS

CUSTOMER = "+441134960000"
QUEUED = "sms_outbox.backends.QueuedSmsBackend"


def simulate(*args, **options):
    out = io.StringIO()
    call_command("simulate_inbound_sms", *args, stdout=out, **options)
    return out.getvalue()


@override_settings(**SETTINGS)
class SimulateTests(TestCase):
    def test_stop_through_the_twilio_webhook_refuses_the_next_send(self):
        output = simulate("STOP", "--from", CUSTOMER)
        self.assertIn(
            "twilio inbound webhook http://testserver/sms/inbound/twilio/: 200", output
        )
        row = InboundMessage.objects.get()
        self.assertEqual(
            (row.provider, row.sender, row.action), ("twilio", CUSTOMER, "opt_out")
        )
        self.assertTrue(Suppression.objects.filter(phone_number=CUSTOMER).exists())
        with self.assertRaises(RecipientOptedOut):
            sms.send_sms(
                "Sale!", "Acme", [CUSTOMER], connection=sms.get_connection(QUEUED)
            )

    def test_messagebird_and_a_base_url(self):
        with override_settings(SMS_WEBHOOK_BASE_URL="https://sms.example.com"):
            with override_settings(ALLOWED_HOSTS=["sms.example.com"]):
                output = simulate(
                    "Hello", "--from", "+44 113 496 0000", "--provider", "messagebird"
                )
        self.assertIn("https://sms.example.com/sms/inbound/messagebird/: 200", output)
        row = InboundMessage.objects.get()
        self.assertEqual(
            (row.provider, row.sender, row.body), ("messagebird", CUSTOMER, "Hello")
        )

    def test_each_run_is_a_new_message(self):
        simulate("Hi", "--from", CUSTOMER)
        simulate("Hi", "--from", CUSTOMER)
        self.assertEqual(InboundMessage.objects.count(), 2)

    @override_settings(TWILIO_AUTH_TOKEN=None)
    def test_a_missing_secret_says_which_setting(self):
        with self.assertRaisesMessage(CommandError, "TWILIO_AUTH_TOKEN is not set"):
            simulate("STOP", "--from", CUSTOMER)

    def test_a_bad_number_is_refused(self):
        with self.assertRaises(CommandError):
            simulate("STOP", "--from", "nobody")
        self.assertFalse(InboundMessage.objects.exists())


@override_settings(**SETTINGS)
class OverHttpTests(LiveServerTestCase):
    def test_posts_to_a_running_site(self):
        url = f"{self.live_server_url}/sms/inbound/twilio/"
        output = simulate("STOP", "--from", CUSTOMER, "--url", url)
        self.assertIn(": 200", output)
        self.assertTrue(Suppression.objects.filter(phone_number=CUSTOMER).exists())

    def test_a_refusal_fails_the_command(self):
        # Signed for a URL the site is not at: the signature does not match.
        url = f"{self.live_server_url}/sms/inbound/twilio/?signed=elsewhere"
        with override_settings(SMS_WEBHOOK_BASE_URL="https://elsewhere.example.com"):
            with self.assertRaisesMessage(CommandError, "answered 403"):
                simulate("STOP", "--from", CUSTOMER, "--url", url)
        self.assertFalse(InboundMessage.objects.exists())
