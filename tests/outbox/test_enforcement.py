"""Every send respects the suppression list: at queue time, at send time, after."""

from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import RecipientOptedOut, RecipientRejected
from sms.message import RecipientResult
from sms.recipients import refused_recipients
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message, Suppression, SuppressionChange
from sms_outbox.optout import suppress, unsuppress
from tests.support.outbox_backends import ScriptedBackend

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
SCRIPTED = "tests.support.outbox_backends.ScriptedBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def stop(number):
    suppress(number, "replied STOP", Suppression.Source.KEYWORD)


def queue(body="Hello", recipients=(A,), fail_silently=False):
    backend = sms.get_connection(QUEUED, fail_silently=fail_silently)
    message = sms.Message(body, "Acme", list(recipients), connection=backend)
    return message, message.send(fail_silently=fail_silently)


@override_settings(SMS_OUTBOX_BACKEND=SCRIPTED)
class QueueTimeTests(TestCase):
    def test_stop_then_queue_is_refused_and_nothing_is_stored(self):
        stop(B)
        with self.assertRaises(RecipientOptedOut) as caught:
            queue(recipients=[A, B])
        self.assertIsInstance(caught.exception, RecipientRejected)
        self.assertIn("opted out", str(caught.exception))
        self.assertNotIn(B, str(caught.exception))  # masked
        self.assertFalse(Message.objects.exists())

    def test_fail_silently_skips_only_the_opted_out_recipient(self):
        stop(B)
        with self.assertLogs("sms_outbox.optout", "WARNING") as logs:
            message, count = queue(recipients=[A, B, C], fail_silently=True)
        self.assertEqual(count, 1)
        self.assertEqual(
            sorted(Message.objects.values_list("recipient", flat=True)), sorted([A, C])
        )
        results = {r.recipient: r for r in message.results}
        self.assertEqual(results[B].status, "opted_out")
        self.assertIsInstance(results[B].error, RecipientOptedOut)
        self.assertIsNone(results[A].error)
        self.assertNotIn(B, "\n".join(logs.output))

    def test_a_message_with_only_opted_out_recipients_is_not_counted(self):
        stop(A)
        backend = sms.get_connection(QUEUED, fail_silently=True)
        sent = sms.send_mass_sms(
            [("one", "Acme", [A]), ("two", "Acme", [B])], connection=backend
        )
        self.assertEqual(sent, 1)
        self.assertEqual(list(Message.objects.values_list("body", flat=True)), ["two"])

    def test_start_re_enables_the_number(self):
        stop(A)
        with self.assertRaises(RecipientOptedOut):
            queue()
        unsuppress(A, "replied START", Suppression.Source.KEYWORD)
        self.assertEqual(queue()[1], 1)
        self.assertEqual(Message.objects.get().recipient, A)

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
    def test_enforcement_off_queues_anyway(self):
        stop(A)
        self.assertEqual(queue()[1], 1)


@override_settings(SMS_OUTBOX_BACKEND=SCRIPTED)
class SendTimeTests(TestCase):
    def setUp(self):
        ScriptedBackend.reset()

    def test_queued_then_stop_then_drain_fails_without_a_provider_call(self):
        queue(recipients=[A, B])
        stop(A)
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed), (1, 1))
        self.assertEqual([m.recipients for m in ScriptedBackend.sent], [[B]])
        row = Message.objects.get(recipient=A)
        self.assertEqual(row.status, Message.Status.FAILED)
        self.assertEqual(row.attempts, 1)
        self.assertIn("opted out", row.last_error)
        attempt = Attempt.objects.get(message=row)
        self.assertEqual((attempt.outcome, attempt.error_code), ("failed", "opted_out"))
        self.assertEqual(Message.objects.get(recipient=B).status, Message.Status.SENT)

    def test_start_before_the_drain_lets_it_go(self):
        queue()
        stop(A)
        unsuppress(A, "replied START", Suppression.Source.KEYWORD)
        self.assertEqual(engine.send_queued().sent, 1)

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
    def test_enforcement_off_sends_anyway(self):
        queue()
        stop(A)
        self.assertEqual(engine.send_queued().sent, 1)

    def test_provider_opt_out_error_suppresses_the_number(self):
        ScriptedBackend.reset(
            {
                A: RecipientOptedOut(
                    "unsubscribed recipient", code=21610, provider="twilio"
                )
            }
        )
        queue(recipients=[A, B])
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed), (1, 1))
        row = Message.objects.get(recipient=A)
        self.assertEqual((row.status, row.attempts), (Message.Status.FAILED, 1))
        suppression = Suppression.objects.get()
        self.assertEqual(
            (suppression.phone_number, suppression.source), (A, "provider")
        )
        self.assertIn("21610", suppression.reason)
        self.assertEqual(SuppressionChange.objects.get().source, "provider")
        # The next SMS to that number is refused before it is stored.
        with self.assertRaises(RecipientOptedOut):
            queue()

    def test_provider_opt_out_in_the_results_suppresses_too(self):
        queue()

        class ResultBackend(BaseSmsBackend):
            def send_messages(self, messages):
                error = RecipientOptedOut("21610", code=21610)
                messages[0].results = [RecipientResult(A, status="failed", error=error)]
                return 0

        with override_settings(SMS_OUTBOX_BACKEND=f"{__name__}.ResultBackend"):
            globals()["ResultBackend"] = ResultBackend
            self.addCleanup(globals().pop, "ResultBackend")
            self.assertEqual(engine.send_queued().failed, 1)
        self.assertTrue(Suppression.objects.filter(phone_number=A).exists())

    def test_other_rejections_suppress_nothing(self):
        ScriptedBackend.reset({A: RecipientRejected("invalid number", code=21211)})
        queue()
        self.assertEqual(engine.send_queued().failed, 1)
        self.assertFalse(Suppression.objects.exists())


class CheckingBackend(BaseSmsBackend):
    """A provider backend as the base will work: ask the registry per call."""

    asked = []
    sent = []

    def send_messages(self, messages):
        for message in messages:
            refused = refused_recipients(message.recipients)
            CheckingBackend.asked.append(list(message.recipients))
            if refused:
                raise next(iter(refused.values()))
            CheckingBackend.sent.append(message)
        return len(messages)


@override_settings(SMS_OUTBOX_BACKEND=f"{__name__}.CheckingBackend")
class DirectSendTests(TestCase):
    def setUp(self):
        CheckingBackend.asked = []
        CheckingBackend.sent = []

    def test_a_direct_send_to_an_opted_out_number_is_refused(self):
        stop(A)
        backend = CheckingBackend()
        with self.assertRaises(RecipientOptedOut):
            sms.send_sms("Hi", "Acme", [A], connection=backend)
        self.assertEqual(sms.send_sms("Hi", "Acme", [B], connection=backend), 1)
        self.assertEqual([m.recipients for m in CheckingBackend.sent], [[B]])

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
    def test_enforcement_off_lets_direct_sends_through(self):
        stop(A)
        self.assertEqual(
            sms.send_sms("Hi", "Acme", [A], connection=CheckingBackend()), 1
        )

    def test_the_drain_does_not_repeat_the_check_per_message(self):
        queue(recipients=[A, B, C])
        with CaptureQueriesContext(connection) as queries:
            result = engine.send_queued()
        self.assertEqual(result.sent, 3)
        lookups = [q for q in queries if Suppression._meta.db_table in q["sql"]]
        self.assertEqual(len(lookups), 1, [q["sql"] for q in lookups])


@override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
class QueryCostTests(TransactionTestCase):
    """Count queries outside a test transaction, as real sends run."""

    def test_queueing_is_one_statement_when_no_recipient_opted_out(self):
        stop(C)
        backend = sms.get_connection(QUEUED)
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(sms.send_sms("Hi", "Acme", [A, B], connection=backend), 1)
        statements = [q["sql"] for q in queries]
        # The INSERT checks the suppression list itself.
        self.assertIn(Suppression._meta.db_table, statements[0])
        self.assertTrue(statements[0].startswith("INSERT"), statements)
        if connection.features.can_return_rows_from_bulk_insert:
            self.assertEqual(len(statements), 1, statements)
        self.assertEqual(Message.objects.count(), 2)

    def test_an_opted_out_recipient_costs_one_lookup_per_send_messages_call(self):
        stop(C)
        backend = sms.get_connection(QUEUED, fail_silently=True)
        data = [("Hi", "Acme", [A, B, C]) for _ in range(50)]
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(sms.send_mass_sms(data, connection=backend), 50)
        suppression = Suppression._meta.db_table
        inserts = [q for q in queries if q["sql"].startswith("INSERT")]
        lookups = [q for q in queries if q["sql"].startswith("SELECT")]
        lookups = [q for q in lookups if suppression in q["sql"]]
        # The refused INSERT, one lookup of which numbers opted out, and the
        # INSERT of the others (split where the database limits parameters).
        self.assertEqual(len(lookups), 1)
        self.assertTrue(all(suppression in q["sql"] for q in inserts))
        self.assertEqual(Message.objects.count(), 100)
        self.assertFalse(Message.objects.filter(recipient=C).exists())

    def test_the_drain_costs_one_lookup_per_claim(self):
        stop(C)
        backend = sms.get_connection(QUEUED)
        sms.send_mass_sms(
            [("Hi", "Acme", [A, B]) for _ in range(300)], connection=backend
        )
        Message.objects.filter(recipient=B).update(recipient=C)  # opted out since
        with CaptureQueriesContext(connection) as queries:
            result = engine.send_queued(batch_size=500)
        self.assertEqual((result.sent, result.failed), (300, 300))
        claims = [q for q in queries if "UPDATE" in q["sql"] and "lease" in q["sql"]]
        lookups = [q for q in queries if Suppression._meta.db_table in q["sql"]]
        self.assertGreater(len(lookups), 0)
        self.assertLessEqual(len(lookups), len(claims))
        self.assertEqual(
            set(Message.objects.filter(recipient=C).values_list("status", flat=True)),
            {"failed"},
        )
