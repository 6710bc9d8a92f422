"""The newest keyword wins, by the provider's time; keywords are normalised."""

import datetime

from django.test import TestCase, override_settings
from django.utils import timezone

from sms_outbox.models import InboundMessage, Suppression
from tests.support.inbound import (
    CUSTOMER,
    post_twilio_inbound,
    send_vonage_inbound,
    twilio_inbound_fields,
    vonage_inbound_fields,
)
from tests.support.receipts import SETTINGS, VONAGE_SETTINGS


def stamp(minutes_ago):
    """Return Vonage's message-timestamp for ``minutes_ago`` minutes ago."""
    when = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@override_settings(**SETTINGS, **VONAGE_SETTINGS)
class KeywordOrderTests(TestCase):
    def vonage(self, message_id, text, minutes_ago):
        fields = vonage_inbound_fields(
            message_id, text, **{"message-timestamp": stamp(minutes_ago)}
        )
        response = send_vonage_inbound(self.client, fields)
        self.assertEqual(response.status_code, 200, response.content)

    def test_a_late_start_stamped_before_a_stop_leaves_the_number_suppressed(self):
        self.vonage("STOP-1005", "STOP", minutes_ago=5)  # 10:05
        self.vonage("START-1000", "START", minutes_ago=10)  # 10:00, arrives late
        self.assertTrue(Suppression.objects.filter(phone_number=CUSTOMER).exists())
        # Both are stored, with what they said.
        self.assertEqual(
            sorted(InboundMessage.objects.values_list("action", flat=True)),
            ["opt_in", "opt_out"],
        )

    def test_a_late_stop_stamped_before_a_start_leaves_the_number_unsuppressed(self):
        self.vonage("START-1005", "START", minutes_ago=5)
        self.vonage("STOP-1000", "STOP", minutes_ago=10)
        self.assertFalse(Suppression.objects.filter(phone_number=CUSTOMER).exists())

    def test_keywords_in_order_still_apply(self):
        self.vonage("STOP-1", "STOP", minutes_ago=10)
        self.assertTrue(Suppression.objects.exists())
        self.vonage("START-1", "START", minutes_ago=5)
        self.assertFalse(Suppression.objects.exists())
        self.vonage("STOP-2", "stop", minutes_ago=1)
        self.assertTrue(Suppression.objects.exists())

    def test_without_a_provider_time_arrival_order_decides(self):
        for sid, body in (("SM1", "STOP"), ("SM2", "START"), ("SM3", "STOP")):
            response = post_twilio_inbound(
                self.client, twilio_inbound_fields(sid, body)
            )
            self.assertEqual(response.status_code, 200)
        self.assertTrue(Suppression.objects.filter(phone_number=CUSTOMER).exists())

    def test_a_keyword_stamped_in_the_future_is_refused(self):
        fields = vonage_inbound_fields(
            "STOP-9999", "STOP", **{"message-timestamp": "9999-12-31 00:00:00"}
        )
        self.assertEqual(send_vonage_inbound(self.client, fields).status_code, 400)
        self.assertFalse(InboundMessage.objects.exists())
        self.vonage("STOP-now", "STOP", minutes_ago=0)
        self.vonage("START-now", "START", minutes_ago=0)
        self.assertFalse(Suppression.objects.exists())


@override_settings(**SETTINGS)
class NormalisedKeywordTests(TestCase):
    def test_variants_of_stop_opt_out(self):
        bodies = {
            "trailing full stop": "Stop.",
            "trailing exclamation": "STOP!!",
            "zero-width space": "stop\u200b",
            "zero-width joiner inside": "st\u200dop",
            "byte order mark": "\ufeffSTOP",
            "fullwidth": "\uff33\uff34\uff2f\uff30",
        }
        for n, (name, body) in enumerate(bodies.items()):
            with self.subTest(name):
                Suppression.objects.all().delete()
                response = post_twilio_inbound(
                    self.client, twilio_inbound_fields(f"SM{n}", body)
                )
                self.assertEqual(response.status_code, 200)
                row = InboundMessage.objects.get(provider_message_id=f"SM{n}")
                self.assertEqual(row.action, "opt_out")
                self.assertEqual(row.body, body)  # stored as sent
                self.assertTrue(Suppression.objects.exists())
