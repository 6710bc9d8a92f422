"""Recording reports: matching rows, order, replays, unknown ids, the signal."""

import datetime

from django.test import TestCase, override_settings

from sms_outbox.models import Attempt, Message
from sms_outbox.receipts import ReceiptOutcome, record_report
from sms_outbox.signals import delivery_status_changed
from sms_outbox.webhooks.base import DeliveryReport
from tests.support.receipts import (
    FORM,
    SETTINGS,
    get_messagebird,
    make_row,
    messagebird_query,
    post_messagebird,
    post_twilio,
    twilio_fields,
)

SID = "SM" + "c" * 32
MB_ID = "e8077d803532c0b5937c639b60216938"
UTC = datetime.timezone.utc


@override_settings(**SETTINGS)
class RecordTestCase(TestCase):
    def setUp(self):
        self.signals = []
        delivery_status_changed.connect(self.receive)
        self.addCleanup(delivery_status_changed.disconnect, self.receive)

    def receive(self, sender, message, old_status, new_status, provider, **kwargs):
        self.signals.append((sender, message.pk, old_status, new_status, provider))

    def twilio(self, status, sid=SID, **more):
        with self.captureOnCommitCallbacks(execute=True):
            return post_twilio(self.client, twilio_fields(sid, status, **more))

    def messagebird(self, status, when, recipient="31612345678", **more):
        query = messagebird_query(MB_ID, status, recipient, when, **more)
        with self.captureOnCommitCallbacks(execute=True):
            return get_messagebird(self.client, query)

    def receipts(self, row):
        return [
            (
                r.error_code,
                f"{r.status} (raw: {r.raw_status})"
                + (f": {r.reason}" if r.reason else ""),
            )
            for r in row.receipts.all()
        ]


class TwilioRecordTests(RecordTestCase):
    def setUp(self):
        super().setUp()
        self.row = make_row(provider_message_id=SID)

    def test_each_status_change_is_recorded_with_a_receipt_and_a_signal(self):
        for status in ("queued", "sent", "delivered"):
            self.assertEqual(self.twilio(status).status_code, 200)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, Message.DeliveryStatus.DELIVERED)
        self.assertEqual(self.row.delivery_status_raw, "delivered")
        self.assertIsNotNone(self.row.delivery_updated_at)
        self.assertEqual(self.row.status, Message.Status.SENT)  # the engine's field
        self.assertEqual(
            self.receipts(self.row),
            [
                ("", "queued (raw: queued)"),
                ("", "sent (raw: sent)"),
                ("", "delivered (raw: delivered)"),
            ],
        )
        self.assertEqual(
            self.signals,
            [
                (Message, self.row.pk, "", "queued", "twilio"),
                (Message, self.row.pk, "queued", "sent", "twilio"),
                (Message, self.row.pk, "sent", "delivered", "twilio"),
            ],
        )

    def test_error_code_and_message_are_stored(self):
        self.twilio(
            "undelivered", ErrorCode="30003", ErrorMessage="Unreachable handset"
        )
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "undelivered")
        self.assertEqual(self.row.delivery_error_code, "30003")
        self.assertEqual(
            self.receipts(self.row),
            [("30003", "undelivered (raw: undelivered): Unreachable handset")],
        )

    def test_a_replay_changes_nothing(self):
        self.twilio("delivered")
        self.row.refresh_from_db()
        first = self.row.delivery_updated_at
        response = self.twilio("delivered")
        self.assertEqual(response.status_code, 200)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_updated_at, first)
        self.assertEqual(len(self.receipts(self.row)), 1)
        self.assertEqual(len(self.signals), 1)

    def test_a_late_sent_never_overwrites_delivered(self):
        self.twilio("delivered")
        self.twilio("sent")
        self.twilio("queued")
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
        self.assertEqual(len(self.receipts(self.row)), 1)
        self.assertEqual([s[3] for s in self.signals], ["delivered"])

    def test_a_second_final_status_does_not_overwrite_the_first(self):
        self.twilio("undelivered", ErrorCode="30005")
        self.twilio("failed", ErrorCode="30008")
        self.row.refresh_from_db()
        self.assertEqual(
            (self.row.delivery_status, self.row.delivery_error_code),
            ("undelivered", "30005"),
        )

    def test_unknown_message_id_is_answered_2xx_and_logged_masked(self):
        with self.assertLogs("sms_outbox.receipts", "INFO") as logs:
            response = self.twilio("delivered", sid="SM" + "0" * 32)
        self.assertEqual(response.status_code, 200)
        self.assertIn("SM" + "0" * 32, logs.output[0])
        self.assertIn("+4411****0000", logs.output[0])
        self.assertNotIn("+441134960000", logs.output[0])
        self.assertFalse(Attempt.objects.exists())
        self.assertEqual(self.signals, [])

    def test_unknown_status_is_answered_2xx_and_ignored(self):
        with self.assertLogs("sms_outbox.receipts", "WARNING"):
            response = self.twilio("receiving")
        self.assertEqual(response.status_code, 200)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "")

    def test_malformed_callback_is_400_and_writes_nothing(self):
        with self.assertLogs("sms_outbox.webhooks.base", "WARNING"):
            response = self.twilio("delivered", To="not-a-number")
        self.assertEqual(response.status_code, 400)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "")
        self.assertFalse(Attempt.objects.exists())

    def test_the_recipient_must_match_the_row(self):
        self.twilio("delivered", To="+12065550100")
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "")

    def test_a_blank_provider_id_matches_no_unsent_row(self):
        make_row(provider_message_id="", reference="")
        report = DeliveryReport("twilio", "SM-other", "delivered", "delivered")
        self.assertEqual(record_report(report), ReceiptOutcome.UNKNOWN_MESSAGE)

    def test_the_signal_waits_for_the_commit(self):
        with self.captureOnCommitCallbacks() as callbacks:
            post_twilio(self.client, twilio_fields(SID, "sent"))
        self.assertEqual(self.signals, [])
        self.assertEqual(len(callbacks), 1)
        callbacks[0]()
        self.assertEqual(self.signals, [(Message, self.row.pk, "", "sent", "twilio")])

    def test_a_failing_receiver_is_logged_and_the_change_kept(self):
        def broken(**kwargs):
            raise RuntimeError("receiver bug")

        delivery_status_changed.connect(broken)
        self.addCleanup(delivery_status_changed.disconnect, broken)
        with self.assertLogs("django", "ERROR") as logs:
            response = self.twilio("undelivered")
        self.assertEqual(response.status_code, 200)
        self.assertIn("receiver bug", logs.output[0])
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "undelivered")


class MessageBirdRecordTests(RecordTestCase):
    def setUp(self):
        super().setUp()
        # One API call to two recipients: one id, two rows.
        self.row = make_row(recipient="+31612345678", provider_message_id=MB_ID)
        self.other = make_row(recipient="+441134960000", provider_message_id=MB_ID)

    def test_the_recipient_picks_the_row_among_those_sharing_the_id(self):
        self.messagebird("delivered", "2026-05-03T08:58:10+00:00")
        self.messagebird(
            "delivery_failed",
            "2026-05-03T08:58:12+00:00",
            recipient="441134960000",
            statusErrorCode="104",
        )
        self.row.refresh_from_db()
        self.other.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
        self.assertEqual(
            (self.other.delivery_status, self.other.delivery_error_code),
            ("undelivered", "104"),
        )

    def test_the_report_time_is_stored(self):
        self.messagebird("delivered", "2026-05-03T08:58:10+00:00")
        self.row.refresh_from_db()
        self.assertEqual(
            self.row.delivery_updated_at,
            datetime.datetime(2026, 5, 3, 8, 58, 10, tzinfo=UTC),
        )

    def test_an_older_report_never_overwrites_a_newer_one(self):
        self.messagebird("delivered", "2026-05-03T08:58:10+00:00")
        self.messagebird("sent", "2026-05-03T08:58:01+00:00")
        self.messagebird("buffered", "2026-05-03T08:58:05+00:00")
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
        self.assertEqual([s[3] for s in self.signals], ["delivered"])

    def test_a_newer_report_overwrites_by_time_not_rank(self):
        self.messagebird("delivered", "2026-05-03T08:58:10+00:00")
        self.messagebird("expired", "2026-05-04T08:58:10+00:00")
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "expired")

    def test_within_the_same_second_the_later_status_wins(self):
        self.messagebird("delivered", "2026-05-03T08:58:10+00:00")
        self.messagebird("sent", "2026-05-03T08:58:10+00:00")
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")

    def test_a_replay_changes_nothing(self):
        for _ in range(3):
            response = self.messagebird("sent", "2026-05-03T08:58:01+00:00")
            self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.receipts(self.row)), 1)
        self.assertEqual(len(self.signals), 1)

    def test_the_reference_finds_a_row_whose_provider_id_is_not_stored_yet(self):
        row = make_row(recipient="+12065550100", reference="a" * 32)
        query = messagebird_query(
            "f" * 32, "delivered", "12065550100", reference="a" * 32
        )
        response = get_messagebird(self.client, query)
        self.assertEqual(response.status_code, 200)
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, "delivered")

    def test_unknown_message_id_is_answered_2xx(self):
        query = messagebird_query("0" * 32, "delivered", reference="b" * 32)
        with self.assertLogs("sms_outbox.receipts", "INFO"):
            response = get_messagebird(self.client, query)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(Attempt.objects.exists())

    def test_malformed_report_is_400_and_writes_nothing(self):
        with self.assertLogs("sms_outbox.webhooks.base", "WARNING"):
            response = self.messagebird("delivered", "the third of May")
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Attempt.objects.exists())

    def test_a_posted_report_is_recorded(self):
        body = messagebird_query(MB_ID, "delivered").encode()
        self.assertEqual(post_messagebird(self.client, body, FORM).status_code, 200)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
