"""Seed, drain and inspect a database that real outbox processes share with a test."""

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

from tests.support.processes import ROOT

# URL scheme and default port of each server database the suite runs on.
SERVERS = {"postgresql": ("postgres", 5432), "mysql": ("mysql", 3306)}


def shared_database(tmp_path):
    """Return ``OUTBOX_DB`` for child processes: the test's database, or a file."""
    if connection.vendor == "sqlite":
        return str(tmp_path / "outbox.sqlite3")
    scheme, port = SERVERS[connection.vendor]
    db = connection.settings_dict
    return (
        f"{scheme}://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@"
        f"{db['HOST']}:{db['PORT'] or port}/{db['NAME']}"
    )


class Shared:
    """Seed, drain and inspect the shared database from child processes.

    Deliveries are recorded in ``record_file`` (one reference a line), every
    provider call in ``record_file.calls``.
    """

    def __init__(self, env, record_file):
        self.env = {**env, "OUTBOX_CALL_FILE": f"{record_file}.calls"}
        self.record_file = record_file
        # Made by a stalling RecordingBackend (tests.support.outbox_backends).
        self.stalled = Path(f"{record_file}.stalled")
        self.release = Path(f"{record_file}.release")

    def run(self, *args, **env):
        """Run ``python *args`` to completion with this helper's environment."""
        return subprocess.run(
            [sys.executable, *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def seed(self, count):
        """Queue ``count`` messages, "Message 0" onwards, through a child process."""
        done = self.run("-m", "tests.support.child", "seed", str(count))
        assert done.returncode == 0, done.stderr

    def report(self):
        """Return the child's JSON report of rows and attempts (see child.py)."""
        done = self.run("-m", "tests.support.child", "report")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def drain(self, *options, **env):
        """Start ``send_queued_sms *options`` and return the running process."""
        return subprocess.Popen(
            [sys.executable, "-m", "django", "send_queued_sms", *options],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def deliveries(self):
        """Return the reference of every delivered message, in delivery order."""
        if not self.record_file.exists():
            return []
        return self.record_file.read_text().split()

    def calls(self):
        """Return the reference of every provider call, whatever its outcome."""
        path = Path(self.env["OUTBOX_CALL_FILE"])
        return path.read_text().split() if path.exists() else []

    def wait_for(self, condition, *processes, seconds=60):
        """Poll ``condition`` until it is true, failing if a process ends first."""
        deadline = time.monotonic() + seconds
        while not condition():
            for process in processes:
                assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.05)
