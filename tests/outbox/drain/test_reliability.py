"""Multi-process drains on a shared database: never twice, nothing lost after a kill.

Each test runs real ``send_queued_sms`` processes against a database they
share with the test: a SQLite file, or the PostgreSQL test database.
"""

import collections
import signal
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_four_concurrent_drains_deliver_each_row_exactly_once(shared):
    shared.seed(2000)
    # 10 ms a call: one drain alone would need seconds for the 2,000,
    # longer than the others take to start, so they share them (at 1 ms, on a
    # fast machine the first drain sent them all before the others started).
    drains = [shared.drain("--batch-size", "50", OUTBOX_DELAY="0.01") for _ in range(4)]
    outputs = [drain.communicate(timeout=60) for drain in drains]
    assert [drain.returncode for drain in drains] == [0] * 4, outputs
    assert [err for _, err in outputs] == [""] * 4
    sent = [int(out.split()[1].rstrip(",")) for out, _ in outputs]
    assert sum(sent) == 2000
    assert sum(1 for count in sent if count) >= 2, sent
    report = shared.report()
    delivered = shared.deliveries()
    assert len(delivered) == 2000
    assert sorted(delivered) == sorted(report["references"])
    assert report["status"] == {"sent": 2000}
    assert report["outcomes"] == {"sent": 2000}


def test_threads_deliver_each_row_exactly_once(shared):
    shared.seed(400)
    drain = shared.drain("--concurrency", "4", OUTBOX_DELAY="0.002")
    out, err = drain.communicate(timeout=60)
    assert drain.returncode == 0, err
    assert out.startswith("sent 400, retrying 0, failed 0 in ")
    assert sorted(shared.deliveries()) == sorted(shared.report()["references"])


def _wait_for_deliveries(shared, count, process):
    deadline = time.monotonic() + 30
    while len(shared.deliveries()) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigkill_mid_run_loses_nothing_and_duplicates_only_rows_it_held(shared):
    shared.seed(1000)
    lease = {"OUTBOX_LEASE_SECONDS": "2", "OUTBOX_TIMEOUT": "0.5"}
    drain = shared.drain(OUTBOX_DELAY="0.002", **lease)
    _wait_for_deliveries(shared, 300, drain)
    drain.send_signal(signal.SIGKILL)
    drain.wait()
    before = shared.report()["status"]
    assert before.get("sending", 0) > 0  # the killed worker held rows
    time.sleep(2.1)  # let its lease run out
    again = shared.drain(**lease)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    report = shared.report()
    assert report["status"] == {"sent": 1000}
    delivered = collections.Counter(shared.deliveries())
    assert set(delivered) == set(report["references"])
    # Only rows the killed drain held with their results unwritten (calls in
    # flight, results not yet flushed: at most 100 a claim) may go twice.
    duplicates = sum(delivered.values()) - 1000
    assert 0 <= duplicates <= before["sending"], duplicates
    assert report["outcomes"]["unknown"] == before["sending"]


def test_sigterm_stops_a_loop_cleanly_after_the_current_message(shared):
    shared.seed(3000)
    drain = shared.drain("--loop", "--interval", "0.2", OUTBOX_DELAY="0.002")
    _wait_for_deliveries(shared, 100, drain)
    drain.send_signal(signal.SIGTERM)
    out, err = drain.communicate(timeout=20)
    assert drain.returncode == 0, err
    report = shared.report()
    assert "sending" not in report["status"]
    sent = report["status"]["sent"]
    assert 100 <= sent < 3000
    assert report["status"]["queued"] == 3000 - sent
    assert len(shared.deliveries()) == sent
    assert out.strip().startswith(f"sent {sent}, retrying 0, failed 0 in ")
