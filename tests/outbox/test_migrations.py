"""A database at an earlier schema migrates forward with its rows, and drains.

The outbox's table and the ``Message`` model keep their names across
releases: a site upgrades with rows in every status, and nothing queued is
lost or sent twice.
"""

import datetime

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase, override_settings
from django.utils import timezone

import sms
from sms_outbox.drain import send_queued
from sms_outbox.models import Attempt, Message

#: The latest migration of the last release before the outbox was reshaped.
BEFORE = ("sms_outbox", "0005_lighter_status_changes")
A, B, C, D, E = (f"+4411349600{n:02d}" for n in range(5))


@override_settings(
    SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend", SMS_OUTBOX_LEASE_SECONDS=60
)
class MigrateForwardTests(TransactionTestCase):
    def setUp(self):
        sms.outbox = []

    def tearDown(self):
        # Leave the schema at its latest state for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    def _old_rows(self):
        executor = MigrationExecutor(connection)
        executor.migrate([BEFORE])
        old = executor.loader.project_state([BEFORE]).apps
        OldMessage = old.get_model("sms_outbox", "Message")
        OldAttempt = old.get_model("sms_outbox", "Attempt")
        now = timezone.now()
        common = {"batch_id": "0" * 32, "body": "Hello", "originator": "Acme"}
        rows = {
            "queued": OldMessage.objects.create(
                **common, recipient=A, reference="r-a", next_attempt_at=now
            ),
            "retrying": OldMessage.objects.create(
                **common,
                recipient=B,
                reference="r-b",
                attempts=1,
                last_error="503",
                next_attempt_at=now - datetime.timedelta(seconds=1),
            ),
            "sending": OldMessage.objects.create(
                **common,
                recipient=C,
                reference="r-c",
                status="sending",
                claimed_by="dead-host:1:abc",
                lease_expires_at=now - datetime.timedelta(minutes=1),
            ),
            "sent": OldMessage.objects.create(
                **common,
                recipient=D,
                reference="r-d",
                status="sent",
                attempts=1,
                provider_message_id="SM1",
                sent_at=now,
                finished_at=now,
                delivery_status="delivered",
            ),
            "failed": OldMessage.objects.create(
                **common,
                recipient=E,
                reference="r-e",
                status="failed",
                attempts=5,
                last_error="bad number",
                finished_at=now,
            ),
            "cancelled": OldMessage.objects.create(
                **common,
                recipient=E,
                reference="r-f",
                status="cancelled",
                finished_at=now,
            ),
        }
        OldAttempt.objects.create(message_id=rows["retrying"].pk, outcome="retry")
        OldAttempt.objects.create(message_id=rows["sent"].pk, outcome="sent")
        return {name: row.pk for name, row in rows.items()}

    def test_rows_in_every_status_survive_the_upgrade_and_drain_once(self):
        pks = self._old_rows()
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        finished = Message.objects.in_bulk(
            [pks["sent"], pks["failed"], pks["cancelled"]]
        )
        self.assertEqual(finished[pks["sent"]].provider_message_id, "SM1")
        self.assertEqual(finished[pks["sent"]].delivery_status, "delivered")
        self.assertEqual(finished[pks["failed"]].last_error, "bad number")
        self.assertEqual(finished[pks["cancelled"]].status, "cancelled")
        self.assertEqual(Message.objects.get(pk=pks["queued"]).kind, "")

        result = send_queued()
        # The queued, the retrying and the taken-back row go out, once each.
        self.assertEqual(result.sent, 3)
        self.assertEqual(sorted(m.recipients[0] for m in sms.outbox), [A, B, C])
        for name in ("queued", "retrying", "sending"):
            self.assertEqual(Message.objects.get(pk=pks[name]).status, "sent", name)
        self.assertEqual(Message.objects.get(pk=pks["retrying"]).attempts, 2)
        taken_back = Attempt.objects.filter(message_id=pks["sending"])
        self.assertEqual(
            list(taken_back.values_list("outcome", flat=True)), ["unknown", "sent"]
        )
        # Nothing final moved, and a second drain sends nothing.
        self.assertEqual(Message.objects.get(pk=pks["sent"]).attempts, 1)
        self.assertEqual(send_queued().total, 0)
        self.assertEqual(len(sms.outbox), 3)
