"""Tests for QueuedSmsBackend: validation, one INSERT, transactions, options."""

import datetime

from django.db import connection, transaction
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import sms
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    MessageTooLong,
    SmsConfigurationError,
)
from sms_outbox.models import Message as Row
from sms_outbox.signals import message_queued

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class QueuedBackendTests(TestCase):
    def setUp(self):
        sms.outbox = []

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)  # + 1 lookup if on
    def test_one_insert_per_send_sms_and_no_delivery(self):
        with CaptureQueriesContext(connection) as queries:
            count = sms.send_sms("Hello", None, [A, B, C])
        self.assertEqual(count, 1)
        self.assertEqual(len(queries), 1, [q["sql"] for q in queries])
        self.assertTrue(queries[0]["sql"].startswith("INSERT"))
        self.assertEqual(sms.outbox, [])
        rows = list(Row.objects.order_by("id"))
        self.assertEqual([r.recipient for r in rows], [A, B, C])
        self.assertEqual(len({r.batch_id for r in rows}), 1)
        self.assertEqual(len({r.reference for r in rows}), 3)
        for row in rows:
            self.assertEqual(
                (row.status, row.body, row.originator, row.attempts, row.priority),
                ("queued", "Hello", "Acme", 0, 0),
            )
            self.assertEqual(len(row.reference), 32)
            self.assertLessEqual(row.next_attempt_at, timezone.now())

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)  # + 1 lookup if on
    def test_send_mass_sms_is_one_insert(self):
        data = [("One", None, [A]), ("Two", None, [B, C]), ("Three", "Other", [A])]
        with self.assertNumQueries(1):
            self.assertEqual(sms.send_mass_sms(data), 3)
        self.assertEqual(Row.objects.count(), 4)
        self.assertEqual(Row.objects.values("batch_id").distinct().count(), 3)

    def test_numbers_are_normalised_and_repeats_dropped(self):
        sms.send_sms("Hi", None, ["+44 113 496 0000", A, "+1 (206) 555-0100"])
        self.assertEqual(
            list(Row.objects.order_by("id").values_list("recipient", flat=True)),
            [A, C],
        )

    def test_results_are_recorded_and_message_unchanged(self):
        message = sms.Message("Hi", " Acme ", ["+44 113 496 0000"])
        message.send()
        self.assertEqual(message.originator, " Acme ")
        self.assertEqual(message.recipients, ["+44 113 496 0000"])
        self.assertEqual(
            [(r.recipient, r.status, r.error) for r in message.results],
            [(A, "queued", None)],
        )
        self.assertEqual(Row.objects.get().originator, "Acme")

    def test_invalid_recipient_stores_nothing(self):
        with self.assertRaises(InvalidPhoneNumber):
            sms.send_mass_sms([("ok", None, [A]), ("bad", None, [B, "+4412"])])
        self.assertFalse(Row.objects.exists())

    def test_fail_silently_skips_only_the_invalid_recipient(self):
        with self.assertLogs("sms_outbox.backends", "WARNING") as logs:
            count = sms.send_sms("Hi", None, [A, "+441134"], fail_silently=True)
        self.assertEqual(count, 1)
        self.assertEqual(list(Row.objects.values_list("recipient", flat=True)), [A])
        self.assertNotIn("+441134", "".join(logs.output))
        self.assertIn("+4*****", "".join(logs.output))

    def test_fail_silently_with_only_invalid_recipients_queues_nothing(self):
        self.assertEqual(sms.send_sms("Hi", None, ["nope"], fail_silently=True), 0)
        self.assertFalse(Row.objects.exists())

    def test_invalid_originator(self):
        with self.assertRaises(InvalidPhoneNumber):
            sms.send_sms("Hi", "Not a valid sender id", [A])
        self.assertFalse(Row.objects.exists())

    def test_empty_body(self):
        with self.assertRaises(InvalidMessage):
            sms.send_sms("  ", None, [A])
        self.assertFalse(Row.objects.exists())

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_body_too_long(self):
        with self.assertRaises(MessageTooLong):
            sms.send_mass_sms([("short", None, [A]), ("x" * 161, None, [B])])
        self.assertFalse(Row.objects.exists())

    def test_rollback_queues_nothing(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            sms.send_sms("Hi", None, [A])
            self.assertEqual(Row.objects.count(), 1)
            raise RuntimeError("the request failed")
        self.assertFalse(Row.objects.exists())

    def test_priority_and_send_after_through_get_connection(self):
        later = timezone.now() + datetime.timedelta(hours=2)
        connection_ = sms.get_connection(priority=7, send_after=later)
        sms.send_sms("Hi", None, [A], connection=connection_)
        row = Row.objects.get()
        self.assertEqual(
            (row.priority, row.send_after, row.next_attempt_at), (7, later, later)
        )
        self.assertFalse(Row.objects.due().exists())

    def test_send_after_in_the_past_is_due_now(self):
        earlier = timezone.now() - datetime.timedelta(hours=2)
        sms.send_sms("Hi", None, [A], connection=sms.get_connection(send_after=earlier))
        row = Row.objects.get()
        self.assertGreater(row.next_attempt_at, earlier)
        self.assertTrue(Row.objects.due().exists())

    def test_message_queued_signal_and_no_post_send(self):
        queued, sent = [], []

        def on_queued(**kwargs):
            queued.append(kwargs)

        message_queued.connect(on_queued)
        self.addCleanup(message_queued.disconnect, on_queued)
        from sms.signals import post_send

        receiver = lambda **kw: sent.append(kw)  # noqa: E731
        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        sms.send_sms("Hi", None, [A, B])
        self.assertEqual(sent, [])
        self.assertEqual(len(queued), 1)
        self.assertEqual(len(queued[0]["rows"]), 2)
        self.assertEqual(queued[0]["messages"][0].body, "Hi")

    def test_empty_list_does_nothing(self):
        backend = sms.get_connection()
        with self.assertNumQueries(0):
            self.assertEqual(backend.send_messages([]), 0)


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class AutocommitTests(TransactionTestCase):
    """Outside any transaction, as a view without ATOMIC_REQUESTS runs."""

    # With opt-outs enforced a second query, the suppression lookup, comes
    # first (tests/outbox/test_enforcement.py counts it).
    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
    def test_one_query_per_send_sms_in_autocommit(self):
        rows = []

        def receiver(**kwargs):
            rows.extend(kwargs["rows"])

        message_queued.connect(receiver)
        self.addCleanup(message_queued.disconnect, receiver)
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(sms.send_sms("Hello", None, [A, B, C]), 1)
        self.assertEqual(len(queries), 1, [q["sql"] for q in queries])
        stored = dict(Row.objects.values_list("pk", "recipient"))
        self.assertEqual({row.pk: row.recipient for row in rows}, stored)

    def test_a_message_past_the_parameter_limit_is_stored_whole(self):
        numbers = [f"+4411349600{n:02d}" for n in range(100)]
        self.assertEqual(sms.send_sms("Hello", None, numbers), 1)
        self.assertEqual(
            sorted(Row.objects.values_list("recipient", flat=True)), numbers
        )
        self.assertEqual(Row.objects.values("batch_id").distinct().count(), 1)


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class DeliveryBackendSettingTests(TestCase):
    @override_settings(SMS_OUTBOX_BACKEND=None)
    def test_missing_setting(self):
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_OUTBOX_BACKEND"):
            sms.send_sms("Hi", None, [A])
        self.assertFalse(Row.objects.exists())

    @override_settings(SMS_OUTBOX_BACKEND=QUEUED)
    def test_the_queued_backend_itself(self):
        with self.assertRaisesMessage(SmsConfigurationError, "queued backend itself"):
            sms.send_sms("Hi", None, [A])
        self.assertFalse(Row.objects.exists())

    @override_settings(SMS_OUTBOX_BACKEND="nowhere.SmsBackend")
    def test_unimportable(self):
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_OUTBOX_BACKEND"):
            sms.send_sms("Hi", None, [A], fail_silently=True)
