"""Inbound SMS and the suppression list in the admin, through the test client."""

import uuid

from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import reverse

from sms_outbox.admin.inbound import recipient_suppressed, with_suppressed
from sms_outbox.inbound import InboundSms, receive
from sms_outbox.models import Message, Suppression, SuppressionChange
from sms_outbox.optout import suppress

A, B = "+441134960000", "+441134960999"
SUPPRESSIONS = reverse("admin:sms_outbox_suppression_changelist")


class InboundAdminTests(TestCase):
    def setUp(self):
        self.user = User.objects.create_superuser("admin", "a@example.com", "pw")
        self.client.force_login(self.user)

    def test_inbound_list_masks_numbers_and_searches(self):
        receive(InboundSms("twilio", "SM1", A, B, "Where is my order?"))
        url = reverse("admin:sms_outbox_inboundmessage_changelist")
        page = self.client.get(url).content.decode()
        self.assertIn("+4411****0000", page)
        self.assertNotIn(A, page)
        self.assertIn("Where is my order?", page)
        self.assertIn(
            "Where is my", self.client.get(url, {"q": "order"}).content.decode()
        )
        self.assertNotIn(
            "Where is my", self.client.get(url, {"q": "refund"}).content.decode()
        )

    def test_inbound_messages_are_read_only(self):
        row, _ = receive(InboundSms("twilio", "SM1", A, B, "Hi"))
        change = reverse("admin:sms_outbox_inboundmessage_change", args=[row.pk])
        response = self.client.post(change, {"body": "edited"})
        self.assertEqual(response.status_code, 403)
        add = reverse("admin:sms_outbox_inboundmessage_add")
        self.assertEqual(self.client.get(add).status_code, 403)

    def test_add_a_number_through_the_list(self):
        add = reverse("admin:sms_outbox_suppression_add")
        response = self.client.post(
            add, {"phone_number": "+44 113 496 0000", "reason": "asked by phone"}
        )
        self.assertEqual(response.status_code, 302)
        row = Suppression.objects.get()
        self.assertEqual(
            (row.phone_number, row.source, row.reason), (A, "admin", "asked by phone")
        )
        self.assertEqual(SuppressionChange.objects.get().source, "admin")
        # Again, or a bad number: the form says why.
        for number in [A, "nonsense"]:
            response = self.client.post(add, {"phone_number": number, "reason": ""})
            self.assertEqual(response.status_code, 200)
            self.assertTrue(response.context["adminform"].form.errors)
        self.assertEqual(Suppression.objects.count(), 1)

    def test_remove_needs_a_reason_and_logs_it(self):
        suppress(A, "STOP", Suppression.Source.KEYWORD)
        suppress(B, "STOP", Suppression.Source.KEYWORD)
        ids = list(Suppression.objects.values_list("pk", flat=True))
        data = {"action": "remove_numbers", "_selected_action": ids, "reason": ""}
        response = self.client.post(SUPPRESSIONS, data, follow=True)
        self.assertContains(response, "Type a reason")
        self.assertEqual(Suppression.objects.count(), 2)
        data["reason"] = "opted in on the website"
        response = self.client.post(SUPPRESSIONS, data, follow=True)
        self.assertContains(response, "Removed 2 numbers")
        self.assertFalse(Suppression.objects.exists())
        removed = SuppressionChange.objects.filter(change="removed")
        self.assertEqual(removed.count(), 2)
        self.assertTrue(
            all(c.reason.startswith("opted in on the website") for c in removed)
        )

    def test_list_filters_by_source_and_masks(self):
        suppress(A, "STOP", Suppression.Source.KEYWORD)
        suppress(B, "21610", Suppression.Source.PROVIDER)
        page = self.client.get(SUPPRESSIONS, {"source": "provider"}).content.decode()
        self.assertIn("+4411****0999", page)
        self.assertNotIn("+4411****0000", page)
        self.assertNotIn(B, page)

    def test_outbox_rows_show_whether_their_recipient_is_suppressed_now(self):
        for number in [A, B]:
            Message.objects.create(
                batch_id=uuid.uuid4(), body="Hi", recipient=number, reference=number
            )
        suppress(A, "STOP", Suppression.Source.KEYWORD)
        rows = {row.recipient: row for row in with_suppressed(Message.objects.all())}
        self.assertTrue(recipient_suppressed(rows[A]))
        self.assertFalse(recipient_suppressed(rows[B]))
        self.assertTrue(recipient_suppressed(Message.objects.get(recipient=A)))
