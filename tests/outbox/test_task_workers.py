"""Task workers drain the outbox: real ``db_worker`` processes, no cron.

The processes share a database with the test (a SQLite file, or the
PostgreSQL test database) and use ``tests.support.task_proc_settings``: the
database task backend, ``SMS_OUTBOX_TASK`` on, and a provider that records
each delivery in a file.
"""

import collections
import json
import signal
import subprocess
import sys
import time

import pytest

# ``shared`` is the reliability tests' fixture: the database the processes share.
from tests.support.processes import ROOT
from tests.support.shared import Shared

pytest.importorskip("django_tasks_db")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FLAKY = "+441134960002"


class Workers(Shared):
    """``Shared`` plus task workers; every process uses the task settings."""

    def __init__(self, base, tmp_path):
        env = dict(base.env, DJANGO_SETTINGS_MODULE="tests.support.task_proc_settings")
        super().__init__(env, base.record_file)
        self.tmp_path = tmp_path
        self.processes = []

    def child(self, *args, **env):
        done = self.run("-m", "tests.support.task_child", *args, **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def worker(self):
        log = open(self.tmp_path / f"worker{len(self.processes)}.log", "w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "db_worker",
                "--interval",
                "0.05",
                "--no-startup-delay",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append((process, log))
        return process

    def stop(self):
        for process, _ in self.processes:
            process.send_signal(signal.SIGTERM)
        for process, log in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    def logs(self):
        return "\n".join(
            log.name + ":\n" + open(log.name).read() for _, log in self.processes
        )

    def wait_for(self, condition, what):
        deadline = time.monotonic() + 60
        while not condition():
            for process, _ in self.processes:
                assert process.poll() is None, self.logs()
            assert time.monotonic() < deadline, f"waited 60 s for {what}\n{self.logs()}"
            time.sleep(0.1)


@pytest.fixture
def workers(shared, tmp_path):  # noqa: F811
    workers = Workers(shared, tmp_path)
    workers.child("migrate")
    yield workers
    workers.stop()


def test_a_db_worker_delivers_now_scheduled_and_retried_rows_without_cron(workers):
    env = {"OUTBOX_FAIL_FIRST": FLAKY, "OUTBOX_RETRY_DELAY": "1"}
    workers.env.update(env)
    workers.worker()
    queued = workers.child("queue-mixed", "2")
    workers.wait_for(lambda: len(workers.deliveries()) >= 3, "3 deliveries")
    report = workers.report()
    assert report["status"] == {"sent": 3}
    assert sorted(workers.deliveries()) == sorted(queued["references"].values())
    # The flaky row was tried twice: a retry, then the delivery.
    assert report["outcomes"] == {"sent": 3, "retry": 1}
    times = dict(
        line.split() for line in (workers.tmp_path / "deliveries.log.times").open()
    )
    later = queued["references"]["Later"]
    assert float(times[later]) >= queued["send_after"]


def test_two_db_workers_and_a_cron_drain_deliver_2000_rows_exactly_once(workers):
    workers.worker()
    workers.worker()
    workers.seed(2000)
    cron = workers.drain(OUTBOX_DELAY="0.0005")
    out, err = cron.communicate(timeout=60)
    assert cron.returncode == 0, err
    cron_sent = int(out.split()[1].rstrip(","))

    def settled():
        tasks = workers.child("tasks")
        idle = not tasks["due"] and "RUNNING" not in tasks["status"]
        return len(workers.deliveries()) >= 2000 and idle

    workers.wait_for(settled, "2000 deliveries and idle workers")
    report = workers.report()
    delivered = collections.Counter(workers.deliveries())
    assert report["status"] == {"sent": 2000}
    assert report["outcomes"] == {"sent": 2000}
    assert sorted(delivered) == sorted(report["references"])
    assert set(delivered.values()) == {1}
    tasks = workers.child("tasks")
    # Finished wake-ups all succeeded; READY ones wait for a later time (the
    # lease of rows another drain held).
    assert set(tasks["status"]) <= {"SUCCESSFUL", "READY"}, tasks
    assert tasks["sent"] + cron_sent == 2000
