"""Run the outbox's fault scenarios on SQLite and PostgreSQL and count what went wrong.

Each scenario runs real ``send_queued_sms`` processes on a shared database,
delivering through a recording test backend that appends every provider call
and every accepted SMS to files. Afterwards every row is checked against
those files and one table is printed: per scenario and database, the SMS
queued, the provider calls made, duplicates (an SMS accepted more than once)
split into those a logged ``unknown`` attempt explains (the drain could not
know whether the provider took it, and said so) and those nothing explains,
rows lost (never accepted by the provider, yet neither failed nor
cancelled), rows stuck in ``sending``, rows the provider accepted that are
not ``sent`` (queued to go out again, or failed), and rows ``failed``. The
goal is 0 unexplained duplicates, 0 lost, 0 stuck and 0 delivered-not-sent
in every row.

Scenarios: 4 concurrent drains; SIGKILL mid-drain; 30% of calls answer 503;
a slow provider (0.2 s per SMS) outliving the lease while a second drain
starts; a drain paused (SIGSTOP) past its lease, and one whose provider call
hangs past it, while a second drain delivers (their provider then answers
503; two rows are cancelled meanwhile); a ``--loop`` worker whose
PostgreSQL connections are terminated mid-drain and while idle (PostgreSQL
only); a row that kills its worker every time; a ``post_send`` receiver
that raises; a custom backend whose results have no ``ok``.

Run from the repository root:

    .venv/bin/python benchmarks/chaos.py [--quick] [--db sqlite postgres]
        [--scenario NAME ...]

``--quick`` uses a fifth of the rows (about a minute per database instead of
three). PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``); the script creates and
drops its own database there. The child processes use the test suite's
settings and recording backend (``tests/support/proc_settings.py``,
``tests/support/outbox_backends.py``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A short lease, with a provider timeout the drain accepts for it.
LEASE = {"OUTBOX_LEASE_SECONDS": "3", "OUTBOX_TIMEOUT": "0.5"}
SHORT_LEASE = {"OUTBOX_LEASE_SECONDS": "2", "OUTBOX_TIMEOUT": "0.5"}


class NotApplicable(Exception):
    """The scenario cannot run on this database."""


class Shared:
    """Seed, drain and inspect one scenario's database from child processes."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.folder = folder
        self.record_file = folder / "deliveries.log"
        self.calls_file = folder / "calls.log"
        self.env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.support.proc_settings",
            "OUTBOX_RECORD_FILE": str(self.record_file),
            "OUTBOX_CALL_FILE": str(self.calls_file),
        }
        self.stalled = Path(f"{self.record_file}.stalled")
        self.release = Path(f"{self.record_file}.release")
        self.processes: list[subprocess.Popen] = []

    def run(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tests.support.child", *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(done.stderr.strip().splitlines()[-1])
        return done.stdout

    def seed(self, count: int) -> None:
        self.run("seed", str(count))

    def report(self) -> dict:
        return json.loads(self.run("report"))

    def drain(self, *options: str, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "send_queued_sms", *options],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def lines(self, path: Path) -> list[str]:
        return path.read_text().split() if path.exists() else []

    def deliveries(self) -> list[str]:
        return self.lines(self.record_file)

    def wait_for(
        self, condition: Callable[[], object], *processes, seconds: float = 120
    ) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a drain exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("timed out")
            time.sleep(0.05)

    def finish(self, *processes: subprocess.Popen, seconds: float = 300) -> None:
        for process in processes:
            process.wait(timeout=seconds)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()


def four_drains(shared: Shared, scale: float, db: str) -> None:
    shared.seed(int(2000 * scale))
    drains = [
        shared.drain("--batch-size", "50", OUTBOX_DELAY="0.001") for _ in range(4)
    ]
    shared.finish(*drains)


def sigkill_mid_drain(shared: Shared, scale: float, db: str) -> None:
    count = int(1000 * scale)
    shared.seed(count)
    drain = shared.drain(OUTBOX_DELAY="0.002", **SHORT_LEASE)
    shared.wait_for(lambda: len(shared.deliveries()) >= count * 0.3, drain)
    drain.kill()
    drain.wait()
    time.sleep(2.2)  # its lease runs out
    shared.finish(shared.drain(**SHORT_LEASE))


def provider_503s(shared: Shared, scale: float, db: str) -> None:
    shared.seed(int(1000 * scale))
    env = {"OUTBOX_FAIL_RATE": "0.3", "OUTBOX_RETRY_DELAY": "0"}
    for _ in range(20):
        shared.finish(shared.drain(**env))
        if "queued" not in shared.report()["status"]:
            break


def slow_provider(shared: Shared, scale: float, db: str) -> None:
    shared.seed(30)
    slow = {"OUTBOX_DELAY": "0.2", **LEASE}
    first = shared.drain(**slow)
    shared.wait_for(shared.deliveries, first)
    time.sleep(3.2)  # longer than the lease
    shared.finish(first, shared.drain(**slow))


def _lost_lease(shared: Shared, stall: str) -> None:
    shared.seed(20)
    # One call at a time: the stall then pauses the drain during a provider
    # call, never inside one of its write transactions (a drain paused there
    # holds its locks, on SQLite the whole database's, until it resumes).
    first = shared.drain(
        OUTBOX_DELAY="0.05",
        OUTBOX_STALL_ON="Message 3",
        OUTBOX_STALL=stall,
        OUTBOX_MAX_IN_FLIGHT="1",
        **LEASE,
    )
    shared.wait_for(shared.stalled.exists, first)
    time.sleep(3.5)  # the first drain's lease runs out
    shared.run("cancel", "Message 3", "Message 12")
    shared.finish(shared.drain(OUTBOX_DELAY="0.01", **LEASE))
    if stall == "stop":
        first.send_signal(signal.SIGCONT)
    else:
        shared.release.touch()
    shared.finish(first)


def paused_past_lease(shared: Shared, scale: float, db: str) -> None:
    _lost_lease(shared, "stop")


def hung_past_lease(shared: Shared, scale: float, db: str) -> None:
    _lost_lease(shared, "hang")


def connections_killed(shared: Shared, scale: float, db: str) -> None:
    if db != "postgres":
        raise NotApplicable("no server connection to kill")
    import psycopg

    name = f"sms-outbox-chaos-{os.getpid()}"

    def terminate() -> int:
        with psycopg.connect(shared.env["OUTBOX_DB"], autocommit=True) as conn:
            return conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [name],
            ).fetchone()[0]

    count = int(200 * scale)
    shared.seed(count)
    worker = shared.drain(
        "--loop", "--interval", "0.2", OUTBOX_DELAY="0.02", OUTBOX_APP_NAME=name
    )
    shared.wait_for(lambda: len(shared.deliveries()) >= count // 3, worker)
    terminate()
    shared.wait_for(lambda: shared.report()["status"] == {"sent": count}, worker)
    shared.wait_for(lambda: terminate() >= 1, worker)  # idle between polls
    shared.seed(count)
    shared.wait_for(lambda: shared.report()["status"] == {"sent": 2 * count}, worker)
    worker.send_signal(signal.SIGTERM)
    shared.finish(worker)


def poison_row(shared: Shared, scale: float, db: str) -> None:
    shared.seed(int(50 * scale) or 10)
    env = {
        **SHORT_LEASE,
        "OUTBOX_MAX_ATTEMPTS": "3",
        "OUTBOX_POISON": "Message 0",
        "OUTBOX_MAX_IN_FLIGHT": "1",  # only the poison row dies with its worker
    }
    for _ in range(6):
        drain = shared.drain("--batch-size", "1", **env)
        shared.finish(drain)
        if drain.returncode != -signal.SIGKILL:
            break
        time.sleep(2.2)  # its lease runs out


def raising_receiver(shared: Shared, scale: float, db: str) -> None:
    shared.seed(int(500 * scale))
    shared.finish(shared.drain(OUTBOX_RAISING_RECEIVER="1"))


def results_without_ok(shared: Shared, scale: float, db: str) -> None:
    shared.seed(int(500 * scale))
    shared.finish(shared.drain(OUTBOX_PLAIN_RESULTS="1"))


SCENARIOS = {
    "4 concurrent drains": four_drains,
    "SIGKILL mid-drain": sigkill_mid_drain,
    "30% 503s": provider_503s,
    "slow provider past lease": slow_provider,
    "paused past lease, then 503": paused_past_lease,
    "hung past lease, then 503": hung_past_lease,
    "connections killed (--loop)": connections_killed,
    "row kills its worker": poison_row,
    "post_send receiver raises": raising_receiver,
    "results without ok": results_without_ok,
}
COLUMNS = (
    "scenario",
    "database",
    "SMS",
    "provider calls",
    "dup. explained",
    "dup. unexplained",
    "lost",
    "stuck sending",
    "delivered, not sent",
    "failed",
)


def count(shared: Shared) -> dict[str, int]:
    """Compare every row with the provider's record of calls and deliveries."""
    report = shared.report()
    delivered = collections.Counter(shared.deliveries())
    unknown = set(report["unknown"])
    explained = unexplained = lost = mislabelled = 0
    for reference, (_, status, _, _) in report["rows"].items():
        extra = max(0, delivered[reference] - 1)
        if reference in unknown:
            explained += extra
        else:
            unexplained += extra
        if not delivered[reference]:
            lost += status not in ("failed", "cancelled")
        elif status != "sent":
            mislabelled += 1
    status = report["status"]
    return {
        "SMS": len(report["rows"]),
        "provider calls": len(shared.lines(shared.calls_file)),
        "dup. explained": explained,
        "dup. unexplained": unexplained,
        "lost": lost,
        "stuck sending": status.get("sending", 0),
        "delivered, not sent": mislabelled,
        "failed": status.get("failed", 0),
    }


def run_scenario(name: str, db: str, env: dict, scale: float, reset) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="outbox-chaos-"))
    if db == "sqlite":
        env = {**env, "OUTBOX_DB": str(folder / "outbox.sqlite3")}
    else:
        reset()
    shared = Shared(env, folder)
    row = {"scenario": name, "database": db}
    try:
        SCENARIOS[name](shared, scale, db)
    except NotApplicable as err:
        return {**row, "SMS": "n/a", "note": str(err)}
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        row["note"] = f"harness: {err}"
    finally:
        shared.stop_all()
    try:
        row.update(count(shared))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return row


def run_database(db: str, names: list[str], scale: float) -> list[dict]:
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    if db == "sqlite":
        return [run_scenario(name, db, env, scale, None) for name in names]
    import psycopg

    server = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    ).rsplit("/", 1)[0]
    database = f"chaos_outbox_{os.getpid()}"

    def admin(sql: str) -> None:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def reset() -> None:
        with psycopg.connect(env["OUTBOX_DB"], autocommit=True) as conn:
            conn.execute("TRUNCATE sms_outbox_message CASCADE")

    admin(f"CREATE DATABASE {database}")
    env["OUTBOX_DB"] = f"{server}/{database}"
    try:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "-v", "0"],
            env={**env, "DJANGO_SETTINGS_MODULE": "tests.support.proc_settings"},
            cwd=ROOT,
            check=True,
        )
        return [run_scenario(name, db, env, scale, reset) for name in names]
    finally:
        admin(f"DROP DATABASE {database} WITH (FORCE)")


def table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [
        tuple(str(row.get(column, "")) for column in COLUMNS) for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [
        f"{row['scenario']} ({row['database']}): {row['note']}"
        for row in rows
        if "note" in row
    ]
    return "\n".join(lines + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the rows")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, metavar="NAME")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    scale = 0.2 if args.quick else 1.0
    rows = [row for db in args.db for row in run_database(db, names, scale)]
    print(table(rows))


if __name__ == "__main__":
    main()
