"""The drain on the task engines of many hosts: real RQ and Celery workers.

``QueuedSmsBackend`` enqueues ``drain_outbox`` when the caller's transaction
commits; here the task goes to django-tasks-rq (``rqworker`` processes on
Redis) or django-tasks-fennel (``celery worker`` processes on RabbitMQ). The
processes share a database with the test (a SQLite file, or the server test
database), and a provider that records each delivery in a file.
"""

import collections

import pytest

from tests.support.engines import Engine, require

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FLAKY = "+441134960002"


@pytest.fixture(params=["rq", "celery"])
def engine(request, shared, tmp_path):
    require(request.param)
    engine = Engine(shared, tmp_path, request.param)
    engine.child("tests.support.task_child", "migrate")
    yield engine
    engine.stop()


def test_three_workers_deliver_2000_rows_exactly_once(engine):
    for _ in range(3):
        engine.worker()
    engine.seed(2000)

    def settled():
        return len(engine.deliveries()) >= 2000 and engine.tasks()["sent"] >= 2000

    engine.wait_for(settled, "2000 deliveries reported by the drains")
    report = engine.report()
    delivered = collections.Counter(engine.deliveries())
    assert report["status"] == {"sent": 2000}
    assert report["outcomes"] == {"sent": 2000}
    assert sorted(delivered) == sorted(report["references"])
    assert set(delivered.values()) == {1}
    # Every provider call was a delivery: no row was tried twice.
    assert sorted(engine.calls()) == sorted(report["references"])
    tasks = engine.tasks()
    # The drains ran as tasks on the workers started here, and none failed.
    assert tasks["status"] == ["SUCCESS"], tasks
    assert tasks["sent"] == 2000
    assert tasks["workers"] and set(tasks["workers"]) <= engine.names(), tasks


def test_a_worker_delivers_now_scheduled_and_retried_rows_without_cron(engine):
    engine.env.update(OUTBOX_FAIL_FIRST=FLAKY, OUTBOX_RETRY_DELAY="1")
    engine.worker()
    queued = engine.child("tests.support.task_child", "queue-mixed", "2")
    engine.wait_for(lambda: len(engine.deliveries()) >= 3, "3 deliveries")
    report = engine.report()
    assert report["status"] == {"sent": 3}
    assert sorted(engine.deliveries()) == sorted(queued["references"].values())
    # The flaky row was tried twice: a retry, then the delivery.
    assert report["outcomes"] == {"sent": 3, "retry": 1}
    times = dict(
        line.split() for line in (engine.tmp_path / "deliveries.log.times").open()
    )
    later = queued["references"]["Later"]
    assert float(times[later]) >= queued["send_after"]
