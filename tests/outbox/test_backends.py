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
from sms.phone import mask_phone_number
from sms_outbox.models import Message as OutboxMessage
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
        rows = list(OutboxMessage.objects.order_by("id"))
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
        self.assertEqual(OutboxMessage.objects.count(), 4)
        self.assertEqual(OutboxMessage.objects.values("batch_id").distinct().count(), 3)

    def test_numbers_are_normalised_and_repeats_dropped(self):
        sms.send_sms("Hi", None, ["+44 113 496 0000", A, "+1 (206) 555-0100"])
        self.assertEqual(
            list(
                OutboxMessage.objects.order_by("id").values_list("recipient", flat=True)
            ),
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
        self.assertEqual(OutboxMessage.objects.get().originator, "Acme")

    def test_invalid_recipient_stores_nothing(self):
        with self.assertRaises(InvalidPhoneNumber):
            sms.send_mass_sms([("ok", None, [A]), ("bad", None, [B, "+4412"])])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_the_invalid_number_error_masks_the_number(self):
        # A number with a digit too many for its plan: the error names it
        # masked, as the direct path does, and says why.
        number = "+4411349600001234"
        with self.assertRaises(InvalidPhoneNumber) as caught:
            sms.send_sms("Hi", None, [number])
        self.assertNotIn(number, str(caught.exception))
        self.assertNotIn(number[1:], str(caught.exception))
        self.assertIn(mask_phone_number(number), str(caught.exception))
        self.assertIn("not a valid phone number", str(caught.exception))
        self.assertIsNone(caught.exception.__cause__)

    def test_fail_silently_skips_only_the_invalid_recipient(self):
        with self.assertLogs("sms_outbox.backends", "WARNING") as logs:
            count = sms.send_sms("Hi", None, [A, "+441134"], fail_silently=True)
        self.assertEqual(count, 1)
        self.assertEqual(
            list(OutboxMessage.objects.values_list("recipient", flat=True)), [A]
        )
        self.assertNotIn("+441134", "".join(logs.output))
        self.assertIn("+4*****", "".join(logs.output))

    def test_fail_silently_with_only_invalid_recipients_queues_nothing(self):
        self.assertEqual(sms.send_sms("Hi", None, ["nope"], fail_silently=True), 0)
        self.assertFalse(OutboxMessage.objects.exists())

    def test_invalid_originator(self):
        with self.assertRaises(InvalidPhoneNumber):
            sms.send_sms("Hi", "Not a valid sender id", [A])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_empty_body(self):
        with self.assertRaises(InvalidMessage):
            sms.send_sms("  ", None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_body_too_long(self):
        with self.assertRaises(MessageTooLong):
            sms.send_mass_sms([("short", None, [A]), ("x" * 161, None, [B])])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_a_megabyte_body_is_not_queued_by_default(self):
        from django.conf import settings

        with self.settings():
            del settings.SMS_MAX_SEGMENTS
            with self.assertRaisesMessage(MessageTooLong, "allows 10"):
                sms.send_sms("x" * 1_000_000, None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_invisible_only_body_is_not_queued(self):
        with self.assertRaisesMessage(InvalidMessage, "only invisible characters"):
            sms.send_sms("\u200b\u2060\ufeff", None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_rollback_queues_nothing(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            sms.send_sms("Hi", None, [A])
            self.assertEqual(OutboxMessage.objects.count(), 1)
            raise RuntimeError("the request failed")
        self.assertFalse(OutboxMessage.objects.exists())

    def test_priority_and_send_after_through_get_connection(self):
        later = timezone.now() + datetime.timedelta(hours=2)
        connection_ = sms.get_connection(priority=7, send_after=later)
        sms.send_sms("Hi", None, [A], connection=connection_)
        row = OutboxMessage.objects.get()
        self.assertEqual(
            (row.priority, row.send_after, row.next_attempt_at), (7, later, later)
        )
        self.assertFalse(OutboxMessage.objects.due().exists())

    def test_send_after_in_the_past_is_due_now(self):
        earlier = timezone.now() - datetime.timedelta(hours=2)
        sms.send_sms("Hi", None, [A], connection=sms.get_connection(send_after=earlier))
        row = OutboxMessage.objects.get()
        self.assertGreater(row.next_attempt_at, earlier)
        self.assertTrue(OutboxMessage.objects.due().exists())

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
        with self.captureOnCommitCallbacks(execute=True):
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
        stored = dict(OutboxMessage.objects.values_list("pk", "recipient"))
        self.assertEqual({row.pk: row.recipient for row in rows}, stored)

    def test_a_message_past_the_parameter_limit_is_stored_whole(self):
        numbers = [f"+4411349600{n:02d}" for n in range(100)]
        self.assertEqual(sms.send_sms("Hello", None, numbers), 1)
        self.assertEqual(
            sorted(OutboxMessage.objects.values_list("recipient", flat=True)), numbers
        )
        self.assertEqual(OutboxMessage.objects.values("batch_id").distinct().count(), 1)


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class DeliveryBackendSettingTests(TestCase):
    @override_settings(SMS_OUTBOX_BACKEND=None)
    def test_missing_setting(self):
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_OUTBOX_BACKEND"):
            sms.send_sms("Hi", None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    @override_settings(SMS_OUTBOX_BACKEND=QUEUED)
    def test_the_queued_backend_itself(self):
        with self.assertRaisesMessage(SmsConfigurationError, "queued backend itself"):
            sms.send_sms("Hi", None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    @override_settings(SMS_OUTBOX_BACKEND="nowhere.SmsBackend")
    def test_unimportable(self):
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_OUTBOX_BACKEND"):
            sms.send_sms("Hi", None, [A], fail_silently=True)


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class BadBodyTests(TestCase):
    """Bodies no database or provider takes are refused before the INSERT."""

    def test_nul_raises_invalid_message_and_the_transaction_goes_on(self):
        # On PostgreSQL a NUL reached the INSERT and raised DataError, which
        # aborted the caller's transaction: the queries after it would fail.
        with transaction.atomic():
            with self.assertRaisesMessage(
                InvalidMessage, "a NUL character (U+0000) at index 5"
            ):
                sms.send_sms("Hello\x00", None, [A])
            self.assertFalse(OutboxMessage.objects.exists())
            self.assertEqual(sms.send_sms("Hello", None, [A]), 1)
        self.assertEqual(
            list(OutboxMessage.objects.values_list("body", flat=True)), ["Hello"]
        )

    def test_lone_surrogate_raises_invalid_message(self):
        with self.assertRaisesMessage(
            InvalidMessage, "a lone surrogate (U+D83D) at index 3"
        ):
            sms.send_sms("Hi \ud83d", None, [A])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_one_bad_body_stores_nothing_of_the_batch(self):
        with self.assertRaises(InvalidMessage):
            sms.send_mass_sms([("ok", None, [A]), ("bad\x00", None, [B])])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_non_str_bodies_raise_type_error_even_when_silent(self):
        for body in (b"hello", 12345):
            with self.subTest(body=body):
                with self.assertRaisesMessage(TypeError, "must be a str"):
                    sms.send_sms(body, None, [A], fail_silently=True)
                with self.assertRaisesMessage(TypeError, "must be a str"):
                    sms.send_mass_sms([("ok", None, [A]), (body, None, [B])])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_fail_silently_skips_the_bad_message_and_queues_the_others(self):
        data = [
            ("One", None, [A]),
            ("secret\x00code", None, [B, C]),
            ("Three \udc00", None, [C]),
            ("Four", None, [C]),
        ]
        with self.assertLogs("sms_outbox.backends", "WARNING") as logs:
            count = sms.send_mass_sms(data, fail_silently=True)
        self.assertEqual(count, 2)
        self.assertEqual(
            sorted(OutboxMessage.objects.values_list("body", "recipient")),
            [("Four", C), ("One", A)],
        )
        output = "\n".join(logs.output)
        self.assertEqual(len(logs.output), 2, output)
        self.assertIn("NUL character (U+0000) at index 6", output)
        self.assertIn("lone surrogate (U+DC00) at index 6", output)
        self.assertIn(mask_phone_number(B), output)
        for secret in ("secret", "code", "Three", B, C):
            self.assertNotIn(secret, output)

    def test_fail_silently_connection_skips_the_bad_message(self):
        connection_ = sms.get_connection(fail_silently=True)
        messages = [sms.Message("bad\x00", None, [A]), sms.Message("ok", None, [B])]
        with self.assertLogs("sms_outbox.backends", "WARNING"):
            self.assertEqual(connection_.send_messages(messages), 1)
        self.assertEqual(
            list(OutboxMessage.objects.values_list("recipient", flat=True)), [B]
        )


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class ConnectionOptionTests(TestCase):
    """``priority`` and ``send_after`` are checked when the connection is built."""

    def test_priority_limits_of_the_column_are_stored(self):
        for priority in (-32768, 32767):
            connection_ = sms.get_connection(priority=priority)
            sms.send_sms("Hi", None, [A], connection=connection_)
        self.assertEqual(
            sorted(OutboxMessage.objects.values_list("priority", flat=True)),
            [-32768, 32767],
        )

    def test_out_of_range_priority(self):
        for priority in (40000, -32769, 32768):
            with self.subTest(priority=priority):
                with self.assertRaisesMessage(
                    ValueError,
                    f"priority {priority} is out of range: pass a whole number "
                    "from -32768 to 32767",
                ):
                    sms.get_connection(priority=priority)

    def test_priority_that_is_not_an_int(self):
        for priority in ("high", 1.5, True, None):
            with self.subTest(priority=priority):
                with self.assertRaisesMessage(
                    ValueError,
                    f"priority must be a whole number from -32768 to "
                    f"32767, not {priority!r}",
                ):
                    sms.get_connection(priority=priority)

    def test_naive_send_after(self):
        naive = datetime.datetime(2030, 1, 1, 9, 0)
        with self.assertRaisesMessage(
            ValueError,
            "send_after 2030-01-01T09:00:00 is naive but USE_TZ is on: pass an "
            "aware datetime",
        ):
            sms.get_connection(send_after=naive)

    def test_send_after_that_is_not_a_datetime(self):
        for value in (datetime.date(2030, 1, 1), "2030-01-01T09:00Z", 1893488400):
            with self.subTest(value=value):
                with self.assertRaisesMessage(ValueError, "send_after must be a "):
                    sms.get_connection(send_after=value)

    @override_settings(USE_TZ=False)
    def test_aware_send_after_without_use_tz(self):
        aware = datetime.datetime(2030, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)
        with self.assertRaisesMessage(ValueError, "is aware but USE_TZ is off"):
            sms.get_connection(send_after=aware)


@override_settings(SMS_BACKEND=QUEUED, DEFAULT_FROM_SMS="Acme")
class MessageQueuedSignalTests(TransactionTestCase):
    """``message_queued`` fires on commit, robustly, and never for a rollback."""

    def listen(self, receiver=None):
        heard = []

        def record(**kwargs):
            heard.append(sorted(row.recipient for row in kwargs["rows"]))

        for func in (receiver, record):
            if func is not None:
                message_queued.connect(func)
                self.addCleanup(message_queued.disconnect, func)
        return heard

    def test_fires_when_the_transaction_commits(self):
        heard = self.listen()
        with transaction.atomic():
            sms.send_sms("Hi", None, [A, B])
            self.assertEqual(heard, [])
        self.assertEqual(heard, [[A, B]])

    def test_never_for_rows_that_roll_back(self):
        heard = self.listen()
        with self.assertRaises(RuntimeError), transaction.atomic():
            sms.send_sms("Hi", None, [A])
            raise RuntimeError("the request failed")
        self.assertEqual(heard, [])
        self.assertFalse(OutboxMessage.objects.exists())

    def test_a_rolled_back_savepoint_is_not_announced(self):
        heard = self.listen()
        with transaction.atomic():
            sms.send_sms("Kept", None, [A])
            with self.assertRaises(RuntimeError), transaction.atomic():
                sms.send_sms("Undone", None, [B])
                raise RuntimeError("inner failure")
        self.assertEqual(heard, [[A]])
        self.assertEqual(
            list(OutboxMessage.objects.values_list("body", flat=True)), ["Kept"]
        )

    def test_a_raising_receiver_is_logged_and_send_sms_returns_the_count(self):
        def broken(**kwargs):
            raise RuntimeError("audit table is down")

        heard = self.listen(broken)
        with self.assertLogs("django.dispatch", "ERROR") as logs:
            with transaction.atomic():
                count = sms.send_sms("Hi", None, [A, B])
        self.assertEqual(count, 1)
        self.assertEqual(OutboxMessage.objects.count(), 2)
        self.assertEqual(heard, [[A, B]])
        self.assertIn("audit table is down", logs.output[0])
        self.assertIn("Traceback", logs.output[0])

    def test_a_raising_receiver_in_autocommit(self):
        def broken(**kwargs):
            raise RuntimeError("boom")

        self.listen(broken)
        with self.assertLogs("django.dispatch", "ERROR"):
            self.assertEqual(sms.send_sms("Hi", None, [A]), 1)
        self.assertEqual(OutboxMessage.objects.count(), 1)
