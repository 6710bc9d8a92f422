"""Tests for insert_rows(): primary keys set with and without INSERT ... RETURNING."""

import uuid
from unittest import mock

from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import sms
from sms_outbox.models import Message as OutboxMessage
from sms_outbox.signals import message_queued
from sms_outbox.sql import insert_rows

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def row(reference):
    now = timezone.now()
    return OutboxMessage(
        batch_id=uuid.uuid4(),
        body="Hi",
        recipient=A,
        next_attempt_at=now,
        reference=reference,
    )


# Counts the INSERT path's own statements: no suppression-list lookup first.
@override_settings(
    SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme", SMS_OUTBOX_ENFORCE_OPT_OUT=False
)
class WithoutReturningTests(TransactionTestCase):
    """As on MySQL, whose INSERT cannot return the new primary keys."""

    def setUp(self):
        features = type(connection.features)
        patch = mock.patch.object(features, "can_return_rows_from_bulk_insert", False)
        patch.start()
        self.addCleanup(patch.stop)
        self.queued = []
        message_queued.connect(self.receive)
        self.addCleanup(message_queued.disconnect, self.receive)

    def receive(self, rows, **kwargs):
        self.queued.extend((r.pk, r.recipient, r.reference) for r in rows)

    def stored(self):
        return sorted(OutboxMessage.objects.values_list("pk", "recipient", "reference"))

    def test_receivers_see_the_stored_primary_keys(self):
        OutboxMessage.objects.bulk_create([row("older")])
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(sms.send_sms("Hello", None, [A, B, C]), 1)
        # In a transaction of their own; BEGIN and COMMIT show on some databases.
        sql = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "SELECT")]
        self.assertEqual([s.split()[0] for s in sql], ["INSERT", "SELECT"], sql)
        self.assertNotIn("RETURNING", sql[0])
        self.assertEqual(len(self.queued), 3)
        self.assertEqual(sorted(self.queued), self.stored()[1:])

    def test_a_message_past_the_parameter_limit_gets_every_key(self):
        numbers = [f"+4411349600{n:02d}" for n in range(100)]
        self.assertEqual(sms.send_sms("Hello", None, numbers), 1)
        self.assertEqual(sorted(self.queued), self.stored())
        self.assertEqual(len({pk for pk, _, _ in self.queued}), 100)

    def test_a_repeated_reference_is_refused_before_anything_is_stored(self):
        for references in (["same", "same"], ["", "other"]):
            with self.subTest(references=references):
                rows = [row(reference) for reference in references]
                with self.assertRaisesMessage(ValueError, "unique, non-empty"):
                    insert_rows(rows)
                self.assertFalse(OutboxMessage.objects.exists())


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class CharacterSetTests(TestCase):
    def test_an_emoji_body_is_stored_whole(self):
        # Four bytes in UTF-8: MySQL's utf8mb3 would refuse it (docs/databases.md).
        body = "Your table is ready \U0001f37d\ufe0f \u2014 see you at 8"
        sms.send_sms(body, None, [A])
        self.assertEqual(OutboxMessage.objects.get().body, body)
