"""Expiry with a task worker: a real ``db_worker`` process never sends an expired code.

The processes share a database with the test, as in ``test_task_workers``.
"""

import json

import pytest

from tests.outbox.test_task_workers import Workers

pytest.importorskip("django_tasks_db")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(shared, tmp_path):
    workers = Workers(shared, tmp_path)
    workers.child("migrate")
    yield workers
    workers.stop()


def test_a_db_worker_expires_a_code_that_waited_past_its_ttl(workers):
    workers.worker()
    done = workers.run("-m", "tests.support.expiry_child", "2")
    assert done.returncode == 0, done.stderr
    references = json.loads(done.stdout)

    def settled():
        status = workers.report()["status"]
        return len(workers.deliveries()) >= 2 and status.get("expired") == 1

    workers.wait_for(settled, "2 deliveries and 1 expired code")
    report = workers.report()
    assert report["status"] == {"sent": 2, "expired": 1}
    assert report["outcomes"] == {"sent": 2, "expired": 1}
    assert sorted(workers.deliveries()) == sorted(
        [references["Fresh"], references["Later"]]
    )
    body, status, attempts, last_error = report["rows"][references["Code 1234"]]
    assert (body, status, attempts) == ("Code 1234", "expired", 0)
    assert last_error.startswith("Expired: the SMS waited past its time to live")
