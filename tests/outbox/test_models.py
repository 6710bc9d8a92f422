"""Tests for the outbox models, their queryset and the migrations."""

import datetime
import io
import uuid

from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from sms_outbox.models import Attempt, Message


def make_row(**fields):
    values = {
        "batch_id": uuid.uuid4(),
        "body": "Hello",
        "recipient": "+441134960000",
        "reference": uuid.uuid4().hex,
    }
    values.update(fields)
    return Message.objects.create(**values)


class MigrationTests(TestCase):
    def test_makemigrations_is_clean(self):
        out = io.StringIO()
        call_command(
            "makemigrations", "sms_outbox", check=True, dry_run=True, stdout=out
        )
        self.assertIn("No changes detected", out.getvalue())


class MessageTests(TestCase):
    def test_str_masks_the_recipient(self):
        row = make_row()
        self.assertEqual(str(row), "SMS to +4411****0000 (queued)")

    def test_str_of_an_empty_row_does_not_fail(self):
        self.assertEqual(str(Message()), "SMS to  (queued)")

    def test_segments_and_encoding(self):
        row = Message(body="ж" * 71)
        self.assertEqual((row.segments, row.encoding), (2, "UCS-2"))
        self.assertEqual(
            (Message(body="hi").segments, Message().encoding), (1, "GSM-7")
        )

    def test_attempts_log_cascades(self):
        row = make_row()
        Attempt.objects.create(message=row, outcome=Attempt.Outcome.SENT)
        row.delete()
        self.assertFalse(Attempt.objects.exists())


class QuerySetTests(TestCase):
    def setUp(self):
        self.now = timezone.now()
        past = self.now - datetime.timedelta(seconds=1)
        future = self.now + datetime.timedelta(hours=1)
        self.due = make_row(next_attempt_at=past)
        self.later = make_row(next_attempt_at=future)
        self.expired = make_row(status="sending", lease_expires_at=past)
        self.held = make_row(status="sending", lease_expires_at=future)
        self.sent = make_row(status="sent")
        self.failed = make_row(status="failed")
        self.cancelled = make_row(status="cancelled")

    def ids(self, queryset):
        return set(queryset.values_list("pk", flat=True))

    def test_queued_and_due(self):
        queued = Message.objects.queued()
        self.assertEqual(self.ids(queued), {self.due.pk, self.later.pk})
        self.assertEqual(self.ids(queued.due(self.now)), {self.due.pk})

    def test_expired_takes_sending_rows_past_their_lease(self):
        self.assertEqual(self.ids(Message.objects.expired(self.now)), {self.expired.pk})

    def test_without_a_time_the_database_clock_decides(self):
        # A host whose clock runs an hour ahead must neither steal a lease
        # nor send early: ``now`` from that host disagrees with the database.
        ahead = self.now + datetime.timedelta(hours=2)
        self.assertEqual(
            self.ids(Message.objects.expired(ahead)), {self.expired.pk, self.held.pk}
        )
        self.assertEqual(self.ids(Message.objects.expired()), {self.expired.pk})
        self.assertEqual(self.ids(Message.objects.queued().due()), {self.due.pk})

    def test_final(self):
        self.assertEqual(
            self.ids(Message.objects.final()),
            {self.sent.pk, self.failed.pk, self.cancelled.pk},
        )

    def test_send_order_is_priority_then_age(self):
        low = make_row(priority=-1)
        high = make_row(priority=5)
        order = list(Message.objects.in_send_order().values_list("pk", flat=True))
        self.assertEqual(order[0], high.pk)
        self.assertEqual(order[-1], low.pk)
        self.assertEqual(order[1:3], [self.due.pk, self.later.pk])
