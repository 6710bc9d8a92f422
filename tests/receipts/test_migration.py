"""Migration 0007 moves the receipts logged as attempts into the Receipt table."""

import datetime

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase

BEFORE = [("sms_outbox", "0005_lighter_status_changes")]
AFTER = [("sms_outbox", "0007_receipts")]
WHEN = datetime.datetime(2026, 5, 3, 8, 58, 10, tzinfo=datetime.timezone.utc)


class ReceiptMigrationTests(TransactionTestCase):
    def setUp(self):
        self.addCleanup(self.migrate, None)

    def migrate(self, targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        if targets is None:
            targets = executor.loader.graph.leaf_nodes("sms_outbox")
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    def test_receipts_move_out_of_the_attempt_log_with_their_data(self):
        old = self.migrate(BEFORE)
        Message = old.get_model("sms_outbox", "Message")
        Attempt = old.get_model("sms_outbox", "Attempt")
        row = Message.objects.create(
            batch_id="4b9d5f1e-52a5-4cf4-9a4c-3c1f9b1e0c11",
            body="Hi",
            recipient="+441134960000",
            status="sent",
        )
        Attempt.objects.create(message=row, outcome="sent", created_at=WHEN)
        Attempt.objects.create(
            message=row,
            outcome="receipt",
            error_code="",
            error_text="sent (raw: buffered)",
            created_at=WHEN + datetime.timedelta(seconds=1),
        )
        Attempt.objects.create(
            message=row,
            outcome="receipt",
            error_code="30003",
            error_text="undelivered (raw: undelivered): Unreachable handset",
            created_at=WHEN + datetime.timedelta(seconds=2),
        )
        Attempt.objects.create(  # its message is gone (no database constraint)
            message_id=row.pk + 1000, outcome="receipt", error_text="sent (raw: sent)"
        )

        new = self.migrate(AFTER)
        Attempt = new.get_model("sms_outbox", "Attempt")
        Receipt = new.get_model("sms_outbox", "Receipt")
        self.assertEqual(
            list(Attempt.objects.values_list("message_id", "outcome")),
            [(row.pk, "sent")],
        )
        self.assertEqual(
            list(
                Receipt.objects.order_by("created_at").values_list(
                    "message_id",
                    "status",
                    "raw_status",
                    "error_code",
                    "reason",
                    "created_at",
                    "reported_at",
                )
            ),
            [
                (
                    row.pk,
                    "sent",
                    "buffered",
                    "",
                    "",
                    WHEN + datetime.timedelta(seconds=1),
                    None,
                ),
                (
                    row.pk,
                    "undelivered",
                    "undelivered",
                    "30003",
                    "Unreachable handset",
                    WHEN + datetime.timedelta(seconds=2),
                    None,
                ),
            ],
        )

        # Backwards, the receipts are attempt-log rows again.
        old = self.migrate(BEFORE)
        Attempt = old.get_model("sms_outbox", "Attempt")
        self.assertEqual(
            list(
                Attempt.objects.filter(outcome="receipt")
                .order_by("created_at")
                .values_list("error_code", "error_text")
            ),
            [
                ("", "sent (raw: buffered)"),
                ("30003", "undelivered (raw: undelivered): Unreachable handset"),
            ],
        )
