"""Start RQ and Celery workers on the database a test shares, and read their results.

The engines are the ones docs/tasks.md documents for many hosts:
django-tasks-rq with ``rqworker`` processes on Redis, and django-tasks-fennel
with ``celery worker`` processes on RabbitMQ (results in Redis). Every process
uses ``tests.support.engine_settings`` and a queue named for the test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.support.processes import ROOT
from tests.support.shared import Shared

REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)

# What each engine needs: the packages, and the brokers as (name, address).
ENGINES = {
    "rq": {
        "packages": ["django_tasks_rq", "django_rq", "rq"],
        "brokers": [("Redis", REDIS)],
    },
    "celery": {
        "packages": ["django_tasks_fennel", "celery", "redis"],
        "brokers": [("RabbitMQ", RABBITMQ), ("Redis", REDIS)],
    },
}


def unavailable(reason):
    """Skip the test for ``reason``, or fail it in CI, where the set-up is broken."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the task engine tests cannot run in CI: {reason}")
    pytest.skip(reason)


def require(engine):
    """Skip (fail in CI) unless ``engine``'s packages and brokers are here."""
    for package in ENGINES[engine]["packages"]:
        if importlib.util.find_spec(package) is None:
            unavailable(
                f"{package} is not installed (the test dependency group has it)"
            )
    for name, address in ENGINES[engine]["brokers"]:
        try:
            socket.create_connection(address, timeout=2).close()
        except OSError as err:
            unavailable(f"{name} does not answer on {address[0]}:{address[1]}: {err}")


class Engine(Shared):
    """``Shared`` plus task workers of one engine on a queue of the test's own."""

    def __init__(self, base, tmp_path, engine):
        self.engine = engine
        self.queue = f"sms-outbox-test-{uuid.uuid4().hex[:12]}"
        env = dict(
            base.env,
            DJANGO_SETTINGS_MODULE="tests.support.engine_settings",
            OUTBOX_ENGINE=engine,
            OUTBOX_QUEUE=self.queue,
        )
        super().__init__(env, base.record_file)
        self.tmp_path = tmp_path
        self.processes = []

    def child(self, module, *args, **env):
        """Run ``python -m module *args`` and return its JSON output, if any."""
        done = self.run("-m", module, *args, **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def worker_name(self, number):
        return f"w{number}-{self.queue}"

    def worker(self):
        """Start one worker process of the engine on the test's queue."""
        name = self.worker_name(len(self.processes))
        if self.engine == "rq":
            command = [
                *("-m", "django", "rqworker", self.queue, "--name", name),
                *("--job-class", "django_tasks_rq.Job", "--with-scheduler"),
            ]
        else:
            command = [
                *("-m", "celery", "-A", "django_tasks_fennel.app", "worker"),
                *("-Q", self.queue, "-n", f"{name}@localhost", "--concurrency", "1"),
                *("--without-gossip", "--without-mingle", "--loglevel", "INFO"),
            ]
        log = open(self.tmp_path / f"{name}.log", "w")
        process = subprocess.Popen(
            [sys.executable, *command],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append((process, log))
        return process

    def names(self):
        """Return the names the workers report in their results."""
        suffix = "@localhost" if self.engine == "celery" else ""
        return {self.worker_name(n) + suffix for n in range(len(self.processes))}

    def tasks(self):
        """Return the drains' results (see ``tests.support.engine_child``)."""
        return self.child("tests.support.engine_child", "tasks")

    def stop(self):
        """Stop the workers, then clear the test's queue.

        A warm shutdown first; an rq worker can hang in it after unsubscribing
        from its control channel (rq issues 1613 and 2201), so one still
        running after 10 s is killed: the test has checked everything by then.
        """
        for process, _ in self.processes:
            process.send_signal(signal.SIGTERM)
        for process, log in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        self.child("tests.support.engine_child", "clear")

    def logs(self):
        return "\n".join(
            log.name + ":\n" + open(log.name).read() for _, log in self.processes
        )

    def wait_for(self, condition, what, seconds=120):
        """Poll ``condition`` until it is true, failing if a worker ends first."""
        deadline = time.monotonic() + seconds
        while not condition():
            for process, _ in self.processes:
                assert process.poll() is None, self.logs()
            assert time.monotonic() < deadline, (
                f"waited {seconds} s for {what}\n{self.logs()}"
            )
            time.sleep(0.2)
