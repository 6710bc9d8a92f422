"""Crash a PostgreSQL server in the middle of a drain and count what went wrong.

The fault benchmark for the one failure ``benchmarks/chaos.py`` cannot
inject on a shared server: the database server itself dying. A private
PostgreSQL cluster is made for the run (``initdb``, run as the ``postgres``
user, on a free port of 127.0.0.1, in a temporary folder), and a drain sends through
the recording test backend. Once a third of the SMS went out, the server is
stopped the way a crash stops it (``pg_ctl stop -m immediate``: no
checkpoint; only what was flushed to its log survives), then started again
(it recovers from its log). Two scenarios:

- ``restart within the lease``: a ``--loop`` worker rides out the crash and
  writes the results it held once the server is back. Nothing may go out
  twice: every commit of the drain waited for the log flush.
- ``drain dies with the server``: a one-shot drain ends on the lost
  database, holding results it could not write; its lease runs out and a
  second drain finishes the queue. Those rows may go out twice, and each
  such duplicate must be explained by a logged ``unknown`` attempt.

The table is chaos.py's: nothing lost, no unexplained duplicate.

    .venv/bin/python benchmarks/server_crash.py [--rows 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.chaos import SHORT_LEASE, Shared, count, table  # noqa: E402


def _free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A throw-away PostgreSQL server in ``folder``, run as the postgres user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise SystemExit("No PostgreSQL server binaries in /usr/lib/postgresql.")
        self.bin = Path(binaries[-1])
        shutil.chown(folder, "postgres")
        self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def crash(self) -> None:
        """Stop the server with no checkpoint and no goodbye, as a crash would."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def restart_within_lease(shared: Shared, cluster: Cluster, rows: int) -> None:
    """Crash the server under a ``--loop`` worker; restart it within the lease."""
    shared.seed(rows)
    worker = shared.drain(
        "--loop",
        "--interval",
        "0.2",
        OUTBOX_DELAY="0.001",
        OUTBOX_LEASE_SECONDS="60",
        OUTBOX_TIMEOUT="0.5",
    )
    shared.wait_for(lambda: len(shared.deliveries()) >= rows / 3, worker)
    cluster.crash()
    time.sleep(1.0)
    cluster.start()
    shared.wait_for(lambda: shared.report()["status"] == {"sent": rows}, worker)
    worker.send_signal(signal.SIGTERM)
    shared.finish(worker)


def crash_mid_drain(shared: Shared, cluster: Cluster, rows: int) -> None:
    """Crash the server once a third of ``rows`` went out; finish after recovery."""
    shared.seed(rows)
    drain = shared.drain(OUTBOX_DELAY="0.001", **SHORT_LEASE)
    shared.wait_for(lambda: len(shared.deliveries()) >= rows / 3, drain)
    cluster.crash()
    drain.wait(timeout=60)  # it stops on the lost database
    cluster.start()
    time.sleep(2.2)  # the dead drain's lease runs out
    shared.finish(shared.drain(**SHORT_LEASE))


SCENARIOS = {
    "restart within the lease": restart_within_lease,
    "drain dies with the server": crash_mid_drain,
}


def run(rows: int, scenario: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="outbox-crash-"))
    os.chmod(folder, 0o755)
    cluster = Cluster(folder)
    cluster.start()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    env["OUTBOX_DB"] = cluster.url("postgres")
    shared = Shared(env, folder / "records")
    shared.folder.mkdir()
    row = {"scenario": scenario, "database": "postgres"}
    try:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "-v", "0"],
            env={**shared.env},
            cwd=ROOT,
            check=True,
        )
        SCENARIOS[scenario](shared, cluster, rows)
        row.update(count(shared))
    finally:
        shared.stop_all()
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = [
        run(args.rows, scenario) for scenario in SCENARIOS for _ in range(args.runs)
    ]
    print(table(rows))


if __name__ == "__main__":
    main()
