"""Tests for sms_outbox.sql: the INSERTs, the fenced UPDATE, arrays, lock retries.

Array literals are read back whole by PostgreSQL on its CI leg.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction
from django.test import SimpleTestCase, TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import sms
from sms_outbox import sql
from sms_outbox import sql as arrays
from sms_outbox.models import Attempt, Message
from sms_outbox.models import Message as OutboxMessage
from sms_outbox.signals import message_queued
from sms_outbox.sql import insert_rows, is_lock_conflict, retry_when_locked
from tests.support.processes import ROOT
from tests.support.shared import shared_database


def _queue(count, **fields):
    now = timezone.now()
    return Message.objects.bulk_create(
        Message(
            batch_id=uuid.uuid4(),
            body=f"Hi {n}",
            recipient="+441134960000",
            next_attempt_at=now,
            reference=uuid.uuid4().hex,
            **fields,
        )
        for n in range(count)
    )


class MarkSentTests(TestCase):
    def test_any_provider_id_is_stored_whole(self):
        rows = _queue(len(HOSTILE), status=Message.Status.SENDING, claimed_by="me")
        pairs = [(row.pk, text[:64]) for row, text in zip(rows, HOSTILE, strict=True)]
        written = sql.mark_sent(connection, pairs, "me", "path", timezone.now())
        self.assertEqual(written, len(rows))
        stored = Message.objects.in_bulk([row.pk for row in rows])
        self.assertEqual(
            [stored[pk].provider_message_id for pk, _ in pairs], [p for _, p in pairs]
        )

    def test_only_rows_the_claim_still_holds_are_marked_sent(self):
        held = _queue(3, status=Message.Status.SENDING, claimed_by="me")
        other = _queue(1, status=Message.Status.SENDING, claimed_by="other")[0]
        now = timezone.now()
        pairs = [(held[0].pk, "SM1"), (held[1].pk, ""), (held[2].pk, "SM3")]
        written = sql.mark_sent(
            sql.outbox_connection(), [*pairs, (other.pk, "SM4")], "me", "path", now
        )
        self.assertEqual(written, 3)
        rows = Message.objects.in_bulk([row.pk for row in [*held, other]])
        self.assertEqual(
            [(rows[r.pk].status, rows[r.pk].provider_message_id) for r in held],
            [("sent", "SM1"), ("sent", ""), ("sent", "SM3")],
        )
        self.assertEqual(
            {
                (rows[r.pk].attempts, rows[r.pk].claimed_by, rows[r.pk].sent_at)
                for r in held
            },
            {(1, "", now)},
        )
        self.assertEqual(
            (rows[other.pk].status, rows[other.pk].attempts), ("sending", 0)
        )

    def test_the_statement_text_does_not_change_with_the_batch_on_postgresql(self):
        if connection.vendor != "postgresql":
            self.skipTest("PostgreSQL passes one array per column")
        texts = []

        def record(execute, sql_text, params, many, context):
            texts.append(sql_text)
            return execute(sql_text, params, many, context)

        for size in (1, 7, 40):
            rows = _queue(size, status=Message.Status.SENDING, claimed_by="me")
            with connection.execute_wrapper(record):
                written = sql.mark_sent(
                    connection,
                    [(r.pk, f"SM{r.pk}") for r in rows],
                    "me",
                    "x",
                    timezone.now(),
                )
            self.assertEqual(written, size)
        self.assertEqual(len(texts), 3)
        self.assertEqual(len(set(texts)), 1, texts)

    def test_postgresql_finds_the_rows_by_their_ids_whatever_the_statistics(self):
        # The statistics were taken while no row was claimed, so the planner
        # expects the fence (this claim's token) to match nothing. Joined to
        # unnest(), it then walked the whole primary key and compared each
        # claimed row with every id of the batch.
        if connection.vendor != "postgresql":
            self.skipTest("a PostgreSQL plan")
        rows = _queue(2000)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Message._meta.db_table}")
        ids = [row.pk for row in rows[:500]]
        Message.objects.filter(pk__in=ids).update(status="sending", claimed_by="me")
        pairs = [(pk, f"SM{pk}") for pk in ids[:100]]
        # The statement's text, as run, from a try that is rolled back.
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            sql.mark_sent(connection, pairs, "me", "x", timezone.now())
            transaction.set_rollback(True)
        (text,) = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + text)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        self.assertIn("Index Cond: (id = ANY", plan)
        self.assertNotIn("Join Filter", plan)
        self.assertNotIn("Rows Removed", plan)
        stored = Message.objects.filter(pk__in=ids[:100], status="sent")
        self.assertEqual(
            dict(stored.values_list("pk", "provider_message_id")), dict(pairs)
        )


class InsertTests(TestCase):
    def test_every_row_is_stored_and_its_key_returned_in_order(self):
        message = _queue(1)[0]
        names = ("message", "outcome", "error_code", "error_text", "created_at")
        fields = [Attempt._meta.get_field(name) for name in names]
        stamp = fields[-1].get_db_prep_save(timezone.now(), connection)
        rows = [[message.pk, "sent", "", f"note {n}", stamp] for n in range(500)]
        returning = connection.features.can_return_rows_from_bulk_insert
        pks = sql.insert(connection, Attempt, fields, rows, returning=returning)
        stored = list(Attempt.objects.order_by("pk").values_list("pk", "error_text"))
        self.assertEqual([text for _, text in stored], [r[3] for r in rows])
        if returning:
            self.assertEqual(pks, [pk for pk, _ in stored])

    def test_any_text_and_null_survive_the_statement_whole(self):
        # On PostgreSQL each column goes as one array literal written by hand.
        message = _queue(1)[0]
        texts = HOSTILE + [f"{text} {n}" for n, text in enumerate(HOSTILE)]
        names = ("message", "outcome", "error_code", "error_text", "duration_ms")
        fields = [Attempt._meta.get_field(name) for name in (*names, "created_at")]
        stamp = fields[-1].get_db_prep_save(timezone.now(), connection)
        rows = [
            [message.pk, "failed", text[:32], text, None if n % 2 else n / 3, stamp]
            for n, text in enumerate(texts)
        ]
        sql.insert(connection, Attempt, fields, rows)
        stored = Attempt.objects.order_by("pk").values_list(
            "error_code", "error_text", "duration_ms"
        )
        self.assertEqual(list(stored), [(r[2], r[3], r[4]) for r in rows])


#: Text that an array literal must quote or escape to keep whole.
HOSTILE = [
    "",
    "NULL",
    'say "hi"',
    'back\\slash \\" end',
    "{braces}, commas, and ] brackets [",
    "  leading and trailing spaces  ",
    "new\nline\ttab",
    "emoji 😀 and ümlaut",
    "'); DROP TABLE sms_outbox_message; --",
]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_outbox_routed_to_its_own_database_never_touches_default(tmp_path):
    """Queue, drain (sent, retried, failed, a dead worker's row), a receipt, purge.

    The child's ``default`` database has no outbox tables, so any statement
    that ignored the router would fail the run.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.support.routed_settings",
        "ROUTED_DEFAULT_DB": str(tmp_path / "default.sqlite3"),
        "OUTBOX_DB": shared_database(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.routed_child"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [t for t in report["default_tables"] if t.startswith("sms_outbox")]
    assert {"sms_outbox_message", "sms_outbox_attempt"} <= set(report["outbox_tables"])
    assert report["status"] == {"sent": 150, "queued": 1, "failed": 1}
    assert report["outcomes"] == {
        "sent": 150,
        "retry": 1,
        "failed": 1,
        "unknown": 1,
    }
    assert report["provider_calls"] == 150
    assert report["receipt"] == "recorded"
    assert (report["purged"], report["left"]) == (150, 2)


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


def test_numbers_and_null_go_unquoted():
    assert arrays.literal([1, 22, 333]) == "{1,22,333}"
    assert arrays.literal([1.5, None, 2]) == "{1.5,NULL,2}"
    assert arrays.literal([True, False]) == "{t,f}"


def test_text_is_quoted_and_escaped():
    values = ["", "NULL", 'say "hi"', "back\\slash", "{a,b}"]
    assert arrays.literal(values) == (
        '{"","NULL","say \\"hi\\"","back\\\\slash","{a,b}"}'
    )


def test_other_values_go_as_their_text():
    moment = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    key = uuid.UUID(int=1)
    assert arrays.literal([moment, key, None]) == (
        f'{{"2026-12-01 10:00:00+00:00","{key}",NULL}}'
    )


def test_floats_and_a_value_repeated_for_every_row():
    moment = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    assert arrays.literal([2.5, 0.1, 1e-07]) == "{2.5,0.1,1e-07}"
    assert (
        arrays.literal([moment] * 3)
        == "{" + ",".join(['"2026-12-01 10:00:00+00:00"'] * 3) + "}"
    )
    assert arrays.literal([None, None]) == "{NULL,NULL}"
    # Equal values of different types are each written as their own.
    assert arrays.literal([1, True, 1.0]) == "{1,t,1.0}"


def test_an_empty_list_is_an_empty_array():
    assert arrays.literal([]) == "{}"


def test_bytes_are_refused_rather_than_written_as_their_repr():
    with pytest.raises(TypeError, match="Binary"):
        arrays.literal([b"\x00"])


class RetryWhenLockedTests(SimpleTestCase):
    def flaky(self, *errors):
        calls = []

        def call(value, *, twice=False):
            calls.append(value)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return value * (2 if twice else 1)

        return call, calls

    def test_deadlocks_lock_waits_and_sqlite_locks_are_retried(self):
        call, calls = self.flaky(
            OperationalError(1213, "Deadlock found when trying to get lock"),
            OperationalError(1205, "Lock wait timeout exceeded"),
            OperationalError("database is locked"),
        )
        self.assertEqual(retry_when_locked(call, 21, twice=True), 42)
        self.assertEqual(len(calls), 4)

    def test_other_errors_reach_the_caller_at_once(self):
        call, calls = self.flaky(OperationalError(2006, "MySQL server has gone away"))
        with self.assertRaises(OperationalError):
            retry_when_locked(call, 1)
        self.assertEqual(len(calls), 1)
        self.assertFalse(is_lock_conflict(ValueError("database is locked")))
