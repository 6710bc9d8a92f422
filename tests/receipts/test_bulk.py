"""A thousand signed callbacks through the test client update exactly the right rows."""

import uuid

from django.test import TestCase, override_settings

from sms_outbox.models import Message, Receipt
from tests.support.receipts import (
    SETTINGS,
    get_messagebird,
    messagebird_query,
    post_twilio,
    twilio_fields,
)

TWILIO_STATUSES = ("delivered", "undelivered", "failed", "sent")
MB_STATUSES = ("delivered", "delivery_failed", "expired", "buffered")
MB_NORMALISED = {
    "delivered": "delivered",
    "delivery_failed": "undelivered",
    "expired": "expired",
    "buffered": "sent",
}
NUMBERS = ("+441134960000", "+12065550100")


def rows(prefix, count, recipients):
    batch = uuid.uuid4()
    return [
        Message(
            batch_id=batch,
            body="Hello",
            recipient=recipients[i % len(recipients)],
            status=Message.Status.SENT,
            # MessageBird: one id per API call, shared by both recipients.
            provider_message_id=f"{prefix}{i // len(recipients):030d}",
            reference=uuid.uuid4().hex,
        )
        for i in range(count)
    ]


@override_settings(**SETTINGS)
class BulkCallbackTests(TestCase):
    def test_a_thousand_callbacks_update_exactly_the_right_rows(self):
        twilio = Message.objects.bulk_create(rows("SM", 500, NUMBERS[:1]))
        messagebird = Message.objects.bulk_create(rows("MB", 500, NUMBERS))
        untouched = Message.objects.bulk_create(rows("XX", 200, NUMBERS))
        expected = {}

        for i, row in enumerate(twilio):
            status = TWILIO_STATUSES[i % 4]
            fields = twilio_fields(row.provider_message_id, status, row.recipient)
            self.assertEqual(post_twilio(self.client, fields).status_code, 200)
            expected[row.pk] = status
        for i, row in enumerate(messagebird):
            raw = MB_STATUSES[i % 4]
            query = messagebird_query(
                row.provider_message_id, raw, row.recipient.lstrip("+")
            )
            self.assertEqual(get_messagebird(self.client, query).status_code, 200)
            expected[row.pk] = MB_NORMALISED[raw]

        stored = dict(
            Message.objects.exclude(delivery_status="").values_list(
                "pk", "delivery_status"
            )
        )
        self.assertEqual(stored, expected)
        self.assertEqual(Receipt.objects.count(), 1000)
        self.assertFalse(
            Message.objects.filter(
                pk__in=[r.pk for r in untouched], delivery_updated_at__isnull=False
            ).exists()
        )
