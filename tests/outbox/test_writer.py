"""Tests for sms_outbox.writer: result writes PostgreSQL runs while the drain sends.

Real PostgreSQL only (the writer is a second connection), outside a test
transaction, so the writer's connection sees the rows the test committed.
"""

import logging
import time
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

import sms
from sms_outbox import engine
from sms_outbox.claims import claim_rows
from sms_outbox.models import Attempt, Message
from sms_outbox.results import FLUSH_EVERY_MESSAGES, AttemptResult, Recorder
from sms_outbox.writer import Writer

psycopg = pytest.importorskip("psycopg")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the writer is for PostgreSQL"
    ),
]

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
LOCMEM = "sms.backends.locmem.SmsBackend"


def _queue_and_claim(count):
    numbers = [f"+4411349{n:05d}" for n in range(count)]
    sms.send_mass_sms(
        [(f"Hi {n}", "Acme", [n]) for n in numbers],
        connection=sms.get_connection(QUEUED),
    )
    return claim_rows(count)


def _sent(claim):
    return [AttemptResult(row, "sent", message_id=f"SM{row.id}") for row in claim.rows]


@pytest.fixture
def writer():
    writer = Writer.for_connection(connection)
    assert writer is not None
    yield writer
    writer.close()


def _backend_pid(writer):
    return writer._raw.info.backend_pid


def test_no_writer_inside_a_transaction_or_when_switched_off():
    assert Writer.for_connection(connection) is not None
    with transaction.atomic():
        assert Writer.for_connection(connection) is None
    with override_settings(SMS_OUTBOX_PIPELINE=False):
        assert Writer.for_connection(connection) is None


def test_a_query_in_flight_is_answered_with_each_statements_row_count(writer):
    claim = _queue_and_claim(3)
    ids = [row.id for row in claim.rows]
    table = Message._meta.db_table
    first = writer.send(
        [
            ("SELECT set_config('synchronous_commit', 'off', true)", []),
            (f"UPDATE {table} SET body = %s WHERE id = ANY(%s)", ["it's", ids]),
            (f"UPDATE {table} SET body = body WHERE id = %s", [-1]),
            # The setting holds for the rest of the transaction, not after it.
            ("SELECT current_setting('synchronous_commit')", []),
        ]
    )
    second = writer.send([("SELECT current_setting('synchronous_commit')", [])])
    assert writer.wait(second).rows(0) == [["on"]]
    assert first.done  # answered in order
    assert first.counts() == [1, 3, 0, 1]
    assert first.rows(3) == [["off"]]
    assert set(Message.objects.values_list("body", flat=True)) == {"it's"}


def test_a_failing_statement_rolls_back_the_whole_query(writer):
    claim = _queue_and_claim(2)
    table = Message._meta.db_table
    failing = writer.send(
        [
            (f"UPDATE {table} SET body = 'changed' WHERE id = %s", [claim.rows[0].id]),
            (f"UPDATE {table} SET attempts = -1 WHERE id = %s", [claim.rows[1].id]),
        ]
    )
    following = writer.send([(f"UPDATE {table} SET body = 'next'", [])])
    with pytest.raises(DatabaseError, match="attempts_check"):
        writer.wait(failing)
    assert "changed" not in set(Message.objects.values_list("body", flat=True))
    # The failure ends with its transaction: the next one runs.
    assert writer.wait(following).counts() == [2]


def test_a_drain_on_postgresql_writes_every_result_once_through_the_writer(caplog):
    count = 3 * FLUSH_EVERY_MESSAGES + 7
    sms.send_mass_sms(
        [(f"Hi {n}", "Acme", [f"+4411349{n:05d}"]) for n in range(count)],
        connection=sms.get_connection(QUEUED),
    )
    spy = mock.patch.object(Writer, "send", autospec=True, side_effect=Writer.send)
    with caplog.at_level(logging.WARNING, logger="sms_outbox"), spy as send:
        result = engine.send_queued()
    assert send.call_count >= 1  # full batches went through the writer
    assert result.sent == count
    assert Message.objects.filter(status="sent").count() == count
    assert Message.objects.exclude(provider_message_id="").count() == count
    assert Attempt.objects.filter(outcome="sent").count() == count
    assert Attempt.objects.values("message_id").distinct().count() == count
    assert not caplog.records


def test_rows_another_worker_took_back_are_left_and_logged_as_possible_duplicates(
    writer, caplog
):
    claim = _queue_and_claim(FLUSH_EVERY_MESSAGES)
    taken = [row.id for row in claim.rows[:3]]
    Message.objects.filter(pk__in=taken).update(claimed_by="another worker")
    recorder = Recorder("x.Backend", claim.token, writer)
    with caplog.at_level(logging.WARNING, logger="sms_outbox"):
        for outcome in _sent(claim):
            recorder.add(outcome)
        assert recorder.pending == []  # sent to the writer, not waited for
        recorder.flush()
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert {statuses[pk] for pk in taken} == {"sending"}
    assert sum(status == "sent" for status in statuses.values()) == len(statuses) - 3
    lost = Attempt.objects.filter(message_id__in=taken)
    lost_texts = {a.error_text[:30] for a in lost}
    assert (len(lost), lost_texts) == (3, {"This worker had lost its lease"})
    assert Attempt.objects.filter(error_text="").count() == len(statuses) - 3
    assert f"ids {sorted(taken)}" in caplog.text


def test_a_write_that_fails_in_flight_is_kept_and_written_whole_by_the_next_flush(
    writer,
):
    claim = _queue_and_claim(FLUSH_EVERY_MESSAGES)
    recorder = Recorder("x.Backend", claim.token, writer)
    params = connection.get_connection_params()
    with psycopg.connect(**params) as blocker, blocker.cursor() as cursor:
        # Hold one row's lock (a transaction left open), so the writer's
        # UPDATE waits in flight.
        cursor.execute(
            f"SELECT 1 FROM {Message._meta.db_table} WHERE id = %s FOR UPDATE",
            [claim.rows[-1].id],
        )
        for outcome in _sent(claim):
            recorder.add(outcome)
        # Waits until the writer's server process has ended.
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [_backend_pid(writer)])
        blocker.rollback()
    with pytest.raises(DatabaseError):
        recorder.flush()
    assert len(recorder.pending) == FLUSH_EVERY_MESSAGES
    assert Message.objects.filter(status="sending").count() == FLUSH_EVERY_MESSAGES
    recorder.flush()  # the next flush writes them on the drain's connection
    assert Message.objects.filter(status="sent").count() == FLUSH_EVERY_MESSAGES
    assert Attempt.objects.filter(error_text="").count() == FLUSH_EVERY_MESSAGES
    assert Attempt.objects.count() == FLUSH_EVERY_MESSAGES


def test_a_worker_that_sent_a_write_and_closed_its_connection_still_has_it_applied(
    writer,
):
    claim = _queue_and_claim(FLUSH_EVERY_MESSAGES)
    recorder = Recorder("x.Backend", claim.token, writer)
    for outcome in _sent(claim):
        recorder.add(outcome)
    writer.close()  # as a killed worker's socket closes, before any answer
    deadline = time.monotonic() + 10
    while Message.objects.filter(status="sent").count() < FLUSH_EVERY_MESSAGES:
        assert time.monotonic() < deadline, "the write in flight was lost"
        time.sleep(0.01)
    assert Attempt.objects.count() == FLUSH_EVERY_MESSAGES
