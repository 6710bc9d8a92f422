"""What the docs promise about the public endpoints, and how refusals are logged."""

import json
import re
from pathlib import Path

from django.test import SimpleTestCase, TestCase, override_settings
from django.urls import reverse

from sms_outbox import urls
from sms_outbox.models import InboundMessage, Suppression
from tests.support.inbound import (
    CUSTOMER,
    VONAGE_INBOUND,
    post_twilio_inbound,
    twilio_inbound_fields,
    vonage_inbound_fields,
)
from tests.support.receipts import SETTINGS, VONAGE_SETTINGS, post_twilio, twilio_fields

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Each name also has a URL per SMS_PROVIDERS alias (docs/providers.md).
ENDPOINTS = list(
    dict.fromkeys(f"sms_outbox:{pattern.name}" for pattern in urls.urlpatterns)
)


def section(page, heading):
    """Return the text of ``page`` under ``## heading``, up to the next heading."""
    text = (DOCS / page).read_text()
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{page} has no section {heading!r}"
    return match.group(1)


class PublicEndpointDocsTests(SimpleTestCase):
    def test_there_are_seven_public_endpoints(self):
        self.assertEqual(len(ENDPOINTS), 7)

    def test_every_endpoint_but_aws_has_one_url_per_alias(self):
        with_alias = {
            f"sms_outbox:{pattern.name}"
            for pattern in urls.urlpatterns
            if "<str:alias>" in str(pattern.pattern)
        }
        self.assertEqual(with_alias, set(ENDPOINTS) - {"sms_outbox:aws_inbound"})
        self.assertEqual(
            reverse("sms_outbox:twilio_status_callback", args=["eu"]),
            "/sms/receipts/twilio/eu/",
        )

    def test_deploying_lists_every_public_endpoint(self):
        text = section("deploying.md", "What is public")
        for name in ENDPOINTS:
            with self.subTest(name):
                self.assertIn(f"`{reverse(name)}`", text)

    def test_the_security_page_covers_every_endpoint(self):
        text = section("security.md", "The endpoints")
        for name in ENDPOINTS:
            with self.subTest(name):
                row = next(
                    line for line in text.splitlines() if f"`{reverse(name)}`" in line
                )
                self.assertIn(name.split(":")[1], row)
                self.assertIn("KiB", row)  # the size limit

    def test_the_docs_say_how_to_keep_vonage_numbers_out_of_access_logs(self):
        self.assertIn("POST-JSON", section("inbound.md", "Provider set-up"))
        logs = section("security.md", "Keeping numbers and texts out of access logs")
        self.assertIn("POST-JSON", logs)
        self.assertIn("access_log", logs)


@override_settings(**SETTINGS, **VONAGE_SETTINGS)
class RefusalLogTests(TestCase):
    def test_a_refused_twilio_incoming_message_is_not_called_a_status_callback(self):
        with self.assertLogs("sms_outbox.webhooks.twilio", "WARNING") as logs:
            response = post_twilio_inbound(
                self.client, twilio_inbound_fields("SM1", "STOP"), signature="forged"
            )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(
            logs.output,
            [
                "WARNING:sms_outbox.webhooks.twilio:Refused a Twilio incoming "
                "message with a bad signature."
            ],
        )
        self.assertFalse(InboundMessage.objects.exists())

    def test_a_refused_twilio_status_callback_is_called_one(self):
        fields = twilio_fields("SM" + "a" * 32, "delivered")
        with self.assertLogs("sms_outbox.webhooks.twilio", "WARNING") as logs:
            response = post_twilio(
                self.client, fields, url="http://testserver/elsewhere/"
            )
        self.assertEqual(response.status_code, 403)
        self.assertIn("Twilio status callback with a bad signature", logs.output[0])

    def test_vonage_inbound_takes_a_json_post_with_nothing_in_the_url(self):
        fields = vonage_inbound_fields("0A0000001234567B", "STOP")
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                VONAGE_INBOUND, json.dumps(fields), content_type="application/json"
            )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.wsgi_request.get_full_path(), VONAGE_INBOUND)
        self.assertEqual(InboundMessage.objects.get().sender, CUSTOMER)
        self.assertTrue(Suppression.objects.filter(phone_number=CUSTOMER).exists())

    def test_a_forged_vonage_json_post_is_refused(self):
        fields = {**vonage_inbound_fields("0A0000001234567C", "START"), "text": "STOP"}
        with self.assertLogs("sms_outbox.webhooks.vonage", "WARNING") as logs:
            response = self.client.post(
                VONAGE_INBOUND, json.dumps(fields), content_type="application/json"
            )
        self.assertEqual(response.status_code, 403)
        self.assertIn("Vonage inbound SMS with a bad signature", logs.output[0])
        self.assertFalse(InboundMessage.objects.exists())
