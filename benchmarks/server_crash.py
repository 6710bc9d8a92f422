"""Crash a PostgreSQL server in the middle of a drain and count what went wrong.

The fault benchmark for the one failure ``benchmarks/chaos.py`` cannot
inject on a shared server: the database server itself dying. A private
PostgreSQL cluster is made for the run (``initdb``, run as the ``postgres``
user, on 127.0.0.1:54329, in a temporary folder), a drain sends
through the recording test backend, and once a third of the SMS went out the
server is stopped the way a crash stops it (``pg_ctl stop -m immediate``: no
checkpoint, and result transactions committed without waiting for the log
flush, ``synchronous_commit = off``, may be lost). The server is started
again (it recovers from its log), the lease of the dead drain runs out, and
a second drain finishes the queue. The table is chaos.py's: every duplicate
must be explained by a logged ``unknown`` attempt, and nothing lost.

    .venv/bin/python benchmarks/server_crash.py [--rows 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.chaos import SHORT_LEASE, Shared, count, table  # noqa: E402

PORT = 54329


class Cluster:
    """A throw-away PostgreSQL server in ``folder``, run as the postgres user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
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
        options = f"-p {PORT} -k {self.folder} -c listen_addresses=127.0.0.1"
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
        return f"postgres://postgres@127.0.0.1:{PORT}/{name}"


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


def run(rows: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="outbox-crash-"))
    os.chmod(folder, 0o755)
    cluster = Cluster(folder)
    cluster.start()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    env["OUTBOX_DB"] = cluster.url("postgres")
    shared = Shared(env, folder / "records")
    shared.folder.mkdir()
    row = {"scenario": "server crash mid-drain", "database": "postgres"}
    try:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "-v", "0"],
            env={**shared.env},
            cwd=ROOT,
            check=True,
        )
        crash_mid_drain(shared, cluster, rows)
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
    print(table([run(args.rows) for _ in range(args.runs)]))


if __name__ == "__main__":
    main()
