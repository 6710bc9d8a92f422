"""The queue-health figures: what they count, where the windows end, their cost."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.utils import timezone

from sms_outbox.health import get_queue_health
from sms_outbox.models import Attempt, Message

pytestmark = pytest.mark.django_db

Status = Message.Status
NOW = timezone.now().replace(microsecond=0)


def ago(**delta):
    return NOW - datetime.timedelta(**delta)


def _row(status=Status.QUEUED, **fields):
    fields.setdefault("next_attempt_at", NOW)
    return Message.objects.create(
        batch_id=uuid.uuid4(),
        body="Hi",
        recipient="+441134960000",
        status=status,
        reference=uuid.uuid4().hex,
        **fields,
    )


def _attempt(row, outcome, code="", **delta):
    return Attempt.objects.create(
        message=row, outcome=outcome, error_code=code, created_at=ago(**delta)
    )


def test_an_empty_outbox_is_all_zeros():
    health = get_queue_health(NOW)
    assert health.by_status == {
        "queued": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
        "blocked": 0,
    }
    assert (health.due, health.oldest_due_at, health.oldest_due_seconds) == (
        0,
        None,
        0.0,
    )
    assert health.lease_expired == 0
    assert health.top_errors == []
    assert len(health.buckets) == 144
    assert health.buckets[0].start == ago(hours=24)
    assert health.buckets[-1].start == ago(minutes=10)


def test_due_rows_and_the_oldest_one():
    _row(next_attempt_at=ago(minutes=7))
    _row(next_attempt_at=ago(seconds=30), attempts=2)
    _row(next_attempt_at=ago(minutes=-5))  # scheduled: not due yet
    _row(Status.SENDING, next_attempt_at=ago(hours=1))  # taken by a drain
    _row(Status.FAILED, next_attempt_at=ago(hours=2), finished_at=ago(hours=2))
    health = get_queue_health(NOW)
    assert health.due == 2
    assert health.oldest_due_at == ago(minutes=7)
    assert health.oldest_due_seconds == 420
    assert health.by_status["queued"] == 3


def test_only_sending_rows_past_their_lease_count_as_expired():
    _row(Status.SENDING, lease_expires_at=ago(seconds=1))
    _row(Status.SENDING, lease_expires_at=ago(minutes=-4))
    _row(Status.QUEUED, lease_expires_at=ago(minutes=10))
    assert get_queue_health(NOW).lease_expired == 1


def test_sent_and_failed_by_finished_at_in_the_last_hour_and_day():
    for minutes in (1, 59, 61, 60 * 23 + 59):
        _row(Status.SENT, finished_at=ago(minutes=minutes))
    _row(Status.SENT, finished_at=ago(hours=24, minutes=1))  # outside the day
    _row(Status.FAILED, finished_at=ago(minutes=30))
    _row(Status.FAILED, finished_at=ago(hours=3))
    _row(Status.CANCELLED, finished_at=ago(minutes=5))
    health = get_queue_health(NOW)
    assert (health.sent_last_hour, health.sent_last_day) == (2, 4)
    assert (health.failed_last_hour, health.failed_last_day) == (1, 2)
    assert health.by_status["sent"] == 5


def test_buckets_count_each_10_minutes_from_the_oldest():
    _row(Status.SENT, finished_at=ago(minutes=1))
    _row(Status.SENT, finished_at=ago(minutes=9))
    _row(Status.SENT, finished_at=ago(minutes=11))
    _row(Status.FAILED, finished_at=ago(hours=23, minutes=55))
    row = _row()
    _attempt(row, Attempt.Outcome.RETRY, "30003", minutes=25)
    _attempt(row, Attempt.Outcome.RETRY, "30003", minutes=26)
    _attempt(row, Attempt.Outcome.FAILED, "30003", minutes=27)  # not a retry
    _attempt(row, Attempt.Outcome.RETRY, "", hours=25)  # outside the day
    buckets = get_queue_health(NOW).buckets
    busy = {
        index: (b.sent, b.failed, b.retried)
        for index, b in enumerate(buckets)
        if b.sent or b.failed or b.retried
    }
    assert busy == {0: (0, 1, 0), 141: (0, 0, 2), 142: (1, 0, 0), 143: (2, 0, 0)}
    assert get_queue_health(NOW).retried_last_day == 2


def test_top_error_codes_of_send_attempts_in_the_last_day():
    row = _row()
    for code, times in (("30003", 3), ("21211", 1), ("20429", 2)):
        for n in range(times):
            _attempt(row, Attempt.Outcome.RETRY, code, minutes=n + 1)
    _attempt(row, Attempt.Outcome.UNKNOWN, "timeout", minutes=3)
    _attempt(row, Attempt.Outcome.FAILED, "21211", minutes=4)
    for code in ("a", "b", "c"):
        _attempt(row, Attempt.Outcome.FAILED, code, minutes=5)
    _attempt(row, Attempt.Outcome.RETRY, "", minutes=1)  # no code
    _attempt(row, Attempt.Outcome.RETRY, "99999", hours=25)  # too old
    _attempt(row, Attempt.Outcome.SENT, "", minutes=1)
    assert get_queue_health(NOW).top_errors == [
        ("30003", 3),
        ("20429", 2),
        ("21211", 2),
        ("a", 1),
        ("b", 1),
    ]


@pytest.mark.parametrize("rows", [0, 40])
def test_the_number_of_queries_does_not_grow_with_the_table(
    rows, django_assert_num_queries
):
    for n in range(rows):
        row = _row(
            [Status.QUEUED, Status.SENDING, Status.SENT, Status.FAILED][n % 4],
            finished_at=ago(minutes=n * 37),
            lease_expires_at=ago(minutes=1),
        )
        _attempt(row, Attempt.Outcome.RETRY, f"E{n % 7}", minutes=n * 31)
    with django_assert_num_queries(6):
        get_queue_health(NOW)


def test_as_dict_is_json_with_iso_times_and_seconds():
    _row(next_attempt_at=ago(minutes=2))
    _row(Status.SENT, finished_at=ago(minutes=3))
    data = json.loads(json.dumps(get_queue_health(NOW).as_dict()))
    assert data["at"] == NOW.isoformat()
    assert data["due"] == 1
    assert data["oldest_due_at"] == ago(minutes=2).isoformat()
    assert data["oldest_due_seconds"] == 120
    assert data["last_hour"] == {"sent": 1, "failed": 0}
    assert data["last_24h"] == {"sent": 1, "failed": 0, "retried": 0}
    assert len(data["per_10_minutes"]) == 144
    assert data["per_10_minutes"][-1]["sent"] == 1


def test_as_dict_leaves_the_series_out_on_request():
    _row(Status.SENT, finished_at=ago(minutes=3))
    health = get_queue_health(NOW)
    full, short = health.as_dict(), health.as_dict(series=False)
    assert "per_10_minutes" not in short
    assert short == {k: v for k, v in full.items() if k != "per_10_minutes"}


def test_another_database_is_told_which_databases_the_figures_need():
    # Django calls as_sql() for a vendor without an as_<vendor>() method.
    from django.db import NotSupportedError, connection

    from sms_outbox.health import _Bucket

    query = Message.objects.annotate(b=_Bucket("finished_at", NOW)).query
    compiler = query.get_compiler(connection=connection)
    with pytest.raises(
        NotSupportedError, match="they run on PostgreSQL, SQLite, MariaDB and MySQL"
    ):
        _Bucket("finished_at", NOW).as_sql(compiler, connection)
