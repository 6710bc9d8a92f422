"""The outbox under faults: never twice, nothing lost, with real drain processes.

Slow and hanging providers, drains paused past their lease, connections
killed under a ``--loop`` worker, a row that kills its worker, raising
``post_send`` receivers and custom result objects, each against real
``send_queued_sms`` processes on a SQLite file and on PostgreSQL.
"""

import collections
import os
import signal
import time

import pytest
from django.db import connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A short lease, and a provider timeout short enough for it: the drain
# refuses a lease that cannot outlast one provider call plus a second.
LEASE = {"OUTBOX_LEASE_SECONDS": "3", "OUTBOX_TIMEOUT": "0.5"}


def _rows_by_body(report):
    return {
        body: (reference, status, attempts, last_error)
        for reference, (body, status, attempts, last_error) in report["rows"].items()
    }


def _assert_each_delivered_once(shared, report):
    delivered = collections.Counter(shared.deliveries())
    assert sorted(delivered) == sorted(report["references"])
    assert set(delivered.values()) == {1}, delivered.most_common(3)


def test_drain_refuses_a_lease_shorter_than_a_provider_call(shared):
    shared.seed(3)
    drain = shared.drain(OUTBOX_LEASE_SECONDS="2", OUTBOX_TIMEOUT="1")
    out, err = drain.communicate(timeout=60)
    assert drain.returncode != 0
    assert "SMS_OUTBOX_LEASE_SECONDS" in err
    assert shared.report()["status"] == {"queued": 3}
    assert shared.calls() == []


def test_slow_drain_outliving_its_nominal_lease_sends_nothing_twice(shared):
    shared.seed(30)
    # One call at a time: the drain takes longer than its lease.
    slow = {"OUTBOX_DELAY": "0.2", "OUTBOX_MAX_IN_FLIGHT": "1", **LEASE}
    first = shared.drain(**slow)
    shared.wait_for(lambda: shared.deliveries(), first)
    time.sleep(3.2)  # longer than the lease: a naive claim would have expired
    assert first.poll() is None and len(shared.deliveries()) < 30
    second = shared.drain(**slow)
    for drain in (first, second):
        out, err = drain.communicate(timeout=60)
        assert drain.returncode == 0, err
    report = shared.report()
    assert report["status"] == {"sent": 30}
    assert report["outcomes"] == {"sent": 30}
    _assert_each_delivered_once(shared, report)


@pytest.mark.parametrize("stall", ["stop", "hang"])
def test_drain_that_lost_its_lease_changes_no_row(shared, stall):
    """Paused (SIGSTOP) or stuck in a provider call past its lease, then 503."""
    shared.seed(20)
    # One call at a time, so that "Message 12" still waits in the stalled
    # drain's claim when its lease runs out (the calls-in-flight case is
    # tests/outbox/test_in_flight.py).
    first = shared.drain(
        OUTBOX_DELAY="0.05",
        OUTBOX_STALL_ON="Message 3",
        OUTBOX_STALL=stall,
        OUTBOX_MAX_IN_FLIGHT="1",
        **LEASE,
    )
    shared.wait_for(shared.stalled.exists, first)
    time.sleep(3.5)  # the first drain's lease runs out
    cancelled = shared.run(
        "-m", "tests.support.child", "cancel", "Message 3", "Message 12"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.split() == ["2"]
    second = shared.drain(OUTBOX_DELAY="0.01", **LEASE)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    if stall == "stop":
        first.send_signal(signal.SIGCONT)
    else:
        shared.release.touch()
    # The stalled call answers 503, and so would every later one.
    out, first_err = first.communicate(timeout=60)

    report = shared.report()
    rows = _rows_by_body(report)
    cancelled = {"Message 3", "Message 12"}
    assert {body: row[1] for body, row in rows.items()} == {
        f"Message {n}": "cancelled" if f"Message {n}" in cancelled else "sent"
        for n in range(20)
    }, first_err
    delivered = collections.Counter(shared.deliveries())
    assert {
        body for body, (ref, _, _, _) in rows.items() if not delivered[ref]
    } == cancelled
    duplicates = {ref for ref, count in delivered.items() if count > 1}
    # Only rows the first drain sent before it stalled, and whose lease ran
    # out with their results unwritten, may have gone out twice; each has a
    # logged ``unknown`` attempt that says so.
    assert duplicates <= set(report["unknown"])
    if duplicates:
        assert "may have gone out twice" in first_err, first_err


def _terminate_backends(application_name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("prepared", [False, True], ids=["default", "prepared"])
def test_loop_worker_outlives_terminated_connections(shared, prepared):
    # Prepared: the worker's statements are prepared in the session that is
    # killed, and must be prepared again in the next one
    # (docs/databases.md, prepared statements).
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend() is PostgreSQL's; SQLite has no server")
    name = f"sms-outbox-faults-{os.getpid()}"
    shared.seed(40)
    worker = shared.drain(
        "--loop",
        "--interval",
        "0.2",
        OUTBOX_DELAY="0.05",
        OUTBOX_APP_NAME=name,
        **({"OUTBOX_PREPARE_THRESHOLD": "0"} if prepared else {}),
        **LEASE,
    )
    shared.wait_for(lambda: len(shared.deliveries()) >= 10, worker)
    assert _terminate_backends(name) >= 1  # mid-drain
    shared.wait_for(lambda: shared.report()["status"] == {"sent": 40}, worker)
    time.sleep(0.5)
    # While idle between polls; wait for it to hold a connection again.
    shared.wait_for(lambda: _terminate_backends(name) >= 1, worker)
    shared.seed(20)
    shared.wait_for(lambda: shared.report()["status"] == {"sent": 60}, worker)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Traceback" not in err, err  # one line per outage
    report = shared.report()
    assert report["status"] == {"sent": 60}
    _assert_each_delivered_once(shared, report)


def test_single_run_whose_connection_drops_exits_non_zero_and_loses_nothing(shared):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend() is PostgreSQL's; SQLite has no server")
    name = f"sms-outbox-faults-once-{os.getpid()}"
    shared.seed(40)
    drain = shared.drain(OUTBOX_DELAY="0.05", OUTBOX_APP_NAME=name, **LEASE)
    shared.wait_for(lambda: len(shared.deliveries()) >= 10, drain)
    assert _terminate_backends(name) >= 1
    out, err = drain.communicate(timeout=60)
    assert drain.returncode != 0, out
    time.sleep(3.2)  # the rows it held come back after their lease
    again = shared.drain(**LEASE)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    report = shared.report()
    assert report["status"] == {"sent": 40}
    delivered = collections.Counter(shared.deliveries())
    assert sorted(set(delivered)) == sorted(report["references"])
    duplicates = {ref for ref, count in delivered.items() if count > 1}
    assert duplicates <= set(report["unknown"])


def test_row_that_kills_its_worker_fails_after_the_maximum_attempts(shared):
    shared.seed(10)
    env = {
        "OUTBOX_LEASE_SECONDS": "2",
        "OUTBOX_TIMEOUT": "0.5",
        "OUTBOX_MAX_ATTEMPTS": "3",
        "OUTBOX_POISON": "Message 0",
        # One call at a time: a call in flight beside the poison row's would
        # die with the worker too, and use up its own attempts.
        "OUTBOX_MAX_IN_FLIGHT": "1",
    }
    kills = 0
    for _ in range(6):
        # One row per claim: only the poison row dies with its worker.
        drain = shared.drain("--batch-size", "1", **env)
        out, err = drain.communicate(timeout=60)
        if drain.returncode != -signal.SIGKILL:
            assert drain.returncode == 0, err
            break
        kills += 1
        time.sleep(2.2)  # its lease runs out
    assert kills == 3
    report = shared.report()
    rows = _rows_by_body(report)
    poison_ref, status, attempts, last_error = rows.pop("Message 0")
    assert (status, attempts) == ("failed", 3)
    assert "worker" in last_error.lower(), last_error
    assert poison_ref in report["unknown"]
    assert {row[1] for row in rows.values()} == {"sent"}
    delivered = collections.Counter(shared.deliveries())
    assert sorted(delivered) == sorted(row[0] for row in rows.values())
    assert set(delivered.values()) == {1}
    assert shared.calls().count(poison_ref) == 3


def test_raising_post_send_receiver_never_turns_a_delivery_into_a_retry(shared):
    shared.seed(20)
    drain = shared.drain(OUTBOX_RAISING_RECEIVER="1")
    out, err = drain.communicate(timeout=60)
    assert drain.returncode == 0, err
    assert out.startswith("sent 20, retrying 0, failed 0 in "), out
    assert err.count("RuntimeError: receiver bug") >= 20  # each logged
    assert "Traceback" in err
    report = shared.report()
    assert report["status"] == {"sent": 20}
    assert report["outcomes"] == {"sent": 20}
    _assert_each_delivered_once(shared, report)


def test_results_without_ok_count_as_delivered(shared):
    shared.seed(20)
    drain = shared.drain(OUTBOX_PLAIN_RESULTS="1")
    out, err = drain.communicate(timeout=60)
    assert drain.returncode == 0, err
    assert out.startswith("sent 20, retrying 0, failed 0 in "), out
    report = shared.report()
    assert report["status"] == {"sent": 20}
    assert report["outcomes"] == {"sent": 20}
    _assert_each_delivered_once(shared, report)


def test_account_error_stops_a_single_run_with_an_error(shared):
    shared.seed(3)
    drain = shared.drain(OUTBOX_ACCOUNT_ERRORS="1")
    out, err = drain.communicate(timeout=60)
    assert drain.returncode != 0
    assert "401 Account suspended" in err
    # The calls already in flight beside the refused one finish and are
    # recorded; the rows not sent go back without using an attempt.
    report = shared.report()
    status = report["status"]
    assert set(status) <= {"queued", "sent"} and status.get("queued", 0) >= 1
    assert len(shared.deliveries()) == status.get("sent", 0)
    queued = [row for row in report["rows"].values() if row[1] == "queued"]
    assert [attempts for _, _, attempts, _ in queued] == [0] * len(queued)


def test_account_error_does_not_end_a_loop_worker(shared):
    shared.seed(5)
    worker = shared.drain(
        "--loop",
        "--interval",
        "0.1",
        OUTBOX_ACCOUNT_ERRORS="2",
        OUTBOX_ACCOUNT_ERROR_DELAY="0.2",
    )
    shared.wait_for(lambda: len(shared.deliveries()) >= 5, worker)
    shared.wait_for(lambda: shared.report()["status"] == {"sent": 5}, worker)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "401 Account suspended" in err
    assert len(shared.calls()) == 7  # two refused, then each row once
    _assert_each_delivered_once(shared, shared.report())
