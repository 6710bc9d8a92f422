"""Benchmark the outbox drained by django.tasks workers (django-tasks-db's db_worker).

Latency: SMS are queued one per transaction at ``--rate`` per second (default
1,000 at 50/s); for each, the time from its COMMIT to the provider call is
measured with one ``db_worker`` (``--interval`` 0.1 s and the default 1 s),
beside a ``send_queued_sms --loop --interval 1`` worker and the cron baseline
(a run each minute: a wait spread evenly over 0 to 60 s, computed, not run).
Throughput: a burst of SMS drained by 1, 2 and 4 ``db_worker`` processes
against a provider that takes 50 ms per SMS.
Run from the repository root:

    .venv/bin/python benchmarks/tasks.py [--db postgres|sqlite] [--count 1000]

PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``); the benchmark creates and
drops its own database there.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROVIDER_SECONDS = 0.05


def produce(count: int, rate: float) -> None:
    """Queue ``count`` SMS, one per transaction; print each one's commit time."""
    import django

    django.setup()
    from django.db import transaction

    import sms
    from sms_outbox.models import Message

    committed = {}
    started = time.monotonic()
    for n in range(count):
        if rate:
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
        body = f"Bench {n}"
        with transaction.atomic():
            # Registered first, so it runs right after the COMMIT, before the
            # outbox's own on_commit wake-up.
            transaction.on_commit(
                lambda body=body: committed.setdefault(body, time.time())
            )
            sms.send_sms(body, "Acme", ["+441134960000"])
    references = dict(Message.objects.values_list("body", "reference"))
    print(json.dumps({references[body]: at for body, at in committed.items()}))


def reset() -> None:
    """Empty the outbox and the task table between scenarios."""
    import django

    django.setup()
    from django_tasks_db.models import DBTaskResult

    from sms_outbox.models import Attempt, Message

    Attempt.objects.all().delete()
    Message.objects.all().delete()
    DBTaskResult.objects.all().delete()


class Bench:
    def __init__(self, db_env: dict, folder: str) -> None:
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.support.task_proc_settings",
            NO_PROXY="127.0.0.1,localhost",
            **db_env,
        )
        self.folder = Path(folder)
        self.runs = 0

    def python(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            raise SystemExit(done.returncode)
        return done.stdout

    def scenario(self, workers: list[list[str]], count: int, rate: float, delay: float):
        """Run ``workers`` while ``count`` SMS are queued; return the timings."""
        self.runs += 1
        record = self.folder / f"run{self.runs}.log"
        env = {
            **self.env,
            "OUTBOX_RECORD_FILE": str(record),
            "OUTBOX_DELAY": str(delay),
        }
        self.python(__file__, "--reset")
        logs = open(self.folder / f"run{self.runs}.workers.log", "w")
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "django", *args],
                env=env,
                cwd=ROOT,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
            for args in workers
        ]
        try:
            time.sleep(2)  # let the workers start
            out = self.python(
                __file__,
                "--produce",
                str(count),
                str(rate),
                **{k: v for k, v in env.items() if k.startswith("OUTBOX_")},
            )
            committed = json.loads(out)
            times = Path(f"{record}.times")
            deadline = time.monotonic() + 600
            while _count_lines(times) < count:
                if time.monotonic() > deadline:
                    raise SystemExit(f"not all delivered; see {logs.name}")
                time.sleep(0.1)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            logs.close()
        delivered = {}
        for line in times.read_text().split("\n"):
            if line:
                reference, at = line.split()
                delivered.setdefault(reference, float(at))
        waits = sorted(delivered[ref] - at for ref, at in committed.items())
        return {
            "median": statistics.median(waits),
            "p95": waits[int(len(waits) * 0.95) - 1],
            "seconds": max(delivered.values()) - min(committed.values()),
            "duplicates": _count_lines(times) - len(delivered),
        }


def _count_lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--burst", type=int, default=600)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="tasks-bench-")
    cleanup = None
    if args.db == "sqlite":
        db_env = {"OUTBOX_DB": os.path.join(folder, "outbox.sqlite3")}
    else:
        import psycopg

        server = os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ).rsplit("/", 1)[0]
        name = f"bench_tasks_{os.getpid()}"

        def admin(sql):
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute(sql)

        admin(f"CREATE DATABASE {name}")
        cleanup = lambda: admin(f"DROP DATABASE {name} WITH (FORCE)")  # noqa: E731
        db_env = {"OUTBOX_DB": f"{server}/{name}"}
    bench = Bench(db_env, folder)
    try:
        bench.python("-m", "tests.support.task_child", "migrate")
        rows = _run(bench, args)
    finally:
        if cleanup:
            cleanup()
    width = max(len(row[0]) for row in rows)
    for label, *cells in rows:
        print(label.ljust(width), *(cell.rjust(10) for cell in cells))


def _run(bench: Bench, args) -> list[tuple[str, ...]]:
    worker = ["db_worker", "--no-startup-delay"]
    rows = [
        (f"{args.db}: latency, {args.count:,} SMS at {args.rate:g}/s", "median", "p95")
    ]
    for label, workers in (
        ("db_worker --interval 0.1", [[*worker, "--interval", "0.1"]]),
        ("db_worker (default --interval 1)", [worker]),
        (
            "send_queued_sms --loop --interval 1",
            [["send_queued_sms", "--loop", "--interval", "1"]],
        ),
    ):
        result = bench.scenario(workers, args.count, args.rate, 0)
        rows.append((label, f"{result['median']:.2f} s", f"{result['p95']:.2f} s"))
    rows.append(("cron, once a minute (computed)", "30.00 s", "57.00 s"))
    rows.append(
        (
            f"throughput, {args.burst:,} SMS, {PROVIDER_SECONDS * 1000:.0f} ms each",
            "msg/s",
            "dupes",
        )
    )
    for count in (1, 2, 4):
        workers = [[*worker, "--interval", "0.1"]] * count
        result = bench.scenario(workers, args.burst, 0, PROVIDER_SECONDS)
        rows.append(
            (
                f"{count} db_worker process{'es' if count > 1 else ''}",
                f"{args.burst / result['seconds']:.1f}",
                str(result["duplicates"]),
            )
        )
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--produce"]:
        produce(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1:2] == ["--reset"]:
        reset()
    else:
        main()
