"""simulate_inbound_sms --provider vonage: a signed Vonage SMS through the webhook."""

import io

from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from sms_outbox.models import InboundMessage, Suppression
from tests.support.inbound import CUSTOMER, OUR_NUMBER
from tests.support.receipts import VONAGE_SETTINGS


def simulate(*args):
    out = io.StringIO()
    call_command("simulate_inbound_sms", *args, stdout=out)
    return out.getvalue()


@override_settings(**VONAGE_SETTINGS)
class SimulateVonageTests(TestCase):
    def test_stop_through_the_vonage_webhook_suppresses_the_sender(self):
        output = simulate("STOP", "--from", CUSTOMER, "--provider", "vonage")
        self.assertIn(
            "vonage inbound webhook http://testserver/sms/inbound/vonage/: 200", output
        )
        row = InboundMessage.objects.get()
        self.assertEqual(
            (row.provider, row.sender, row.recipient, row.action),
            ("vonage", CUSTOMER, OUR_NUMBER, "opt_out"),
        )
        self.assertEqual(Suppression.objects.get().phone_number, CUSTOMER)

    @override_settings(VONAGE_SIGNATURE_METHOD="md5")
    def test_each_signature_method_verifies(self):
        simulate("Grüße", "--from", CUSTOMER, "--provider", "vonage")
        self.assertEqual(InboundMessage.objects.get().body, "Grüße")

    @override_settings(VONAGE_SIGNATURE_SECRET=None)
    def test_a_missing_secret_says_which_setting(self):
        with self.assertRaisesMessage(
            CommandError, "VONAGE_SIGNATURE_SECRET is not set"
        ):
            simulate("STOP", "--from", CUSTOMER, "--provider", "vonage")
        self.assertFalse(InboundMessage.objects.exists())
