"""Benchmark the SMS outbox on SQLite, PostgreSQL and MariaDB, side by side.

For N = 5,000 and 50,000 queued rows it measures: queries per ``send_sms()``
call when enqueueing, queries per message and messages per second when
draining with the locmem backend, the same drain with two threads, memory
growth during the drain (tracemalloc peak), and the drain rate through the
real Twilio backend against a fake Twilio answering after 50 ms, with
``concurrency`` 1 and 8. Then, unless ``--no-compare``, the drain through
``send_queued_sms`` beside django-post-office's ``send_queued_mail``, each on
a fresh database, medians of 3, with the queries and commits per 100
messages and the ratio (``benchmarks/compare.py``; django-post-office is
installed in a virtualenv of its own, never in the project's).
Run from the repository root:

    .venv/bin/python benchmarks/outbox.py [--sizes 5000 50000] \
        [--db sqlite postgres mariadb] [--no-compare]

PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``), MariaDB or MySQL at
``MYSQL_URL`` (default ``mysql://root:@127.0.0.1:3306/test``, through
mysqlclient: ``make .venv/.mysql``); the benchmark creates and drops its own
database on each server. Each database runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.compare import compare_enqueue, compare_sizes  # noqa: E402
from benchmarks.compare import table as compare_table  # noqa: E402
from benchmarks.databases import empty_outbox, fresh_database  # noqa: E402
from benchmarks.outbox_table import LATENCY, table  # noqa: E402

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

A, B, C = "+441134960000", "+441134960999", "+12065550100"


def _setup() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _fill(count: int) -> None:
    import sms

    connection = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        data = [(f"Benchmark {start + n}", "Acme", [A]) for n in range(size)]
        sms.send_mass_sms(data, connection=connection)


def _enqueue_queries(calls: int = 200) -> dict:
    """Count what ``send_sms()`` to three recipients costs in SQL.

    Inside a transaction (a view under ``ATOMIC_REQUESTS``) only its own
    statements are counted; in autocommit every statement is.
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    import sms

    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    in_request = 0
    for n in range(calls):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            sms.send_sms(f"Hello {n}", "Acme", [A, B, C], connection=queued)
        in_request += len(queries)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for n in range(calls):
            sms.send_sms(f"Hello {n}", "Acme", [A, B, C], connection=queued)
        seconds = time.perf_counter() - started
    sql = [q["sql"] for q in queries]
    return {
        "enqueue_atomic_all": in_request / calls,
        "enqueue_autocommit_all": len(sql) / calls,
        "enqueue_autocommit_per_s": calls / seconds,
    }


def _drain_without_ids(count: int) -> dict:
    """Drain with the dummy backend, which returns no provider message ids.

    The difference to the locmem drain is the cost of inserting random ids
    into the ``provider_message_id`` index, which grows with the table.
    """
    from django.test.utils import override_settings

    from sms_outbox.drain.run import send_queued

    empty_outbox()
    _fill(count)
    with override_settings(SMS_OUTBOX_BACKEND="sms.backends.dummy.SmsBackend"):
        result = send_queued()
    assert result.sent == count, result
    return {"drain_no_ids_msg_per_s": count / result.seconds}


def _drain(count: int, traced: bool = False, concurrency: int = 1) -> dict:
    import collections
    import tracemalloc

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import sms
    from sms_outbox.drain.run import send_queued

    empty_outbox()
    _fill(count)
    # locmem keeps a copy of every message; a short deque keeps the
    # benchmark about the outbox's memory, not the test backend's.
    sms.outbox = collections.deque(maxlen=10)
    if traced:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        result = send_queued()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.sent == count, result
        return {"memory_mb": (peak - base) / 2**20}
    if concurrency > 1:
        result = send_queued(concurrency=concurrency)
        assert result.sent == count, result
        return {f"drain_c{concurrency}_msg_per_s": count / result.seconds}
    with CaptureQueriesContext(connection) as queries:
        result = send_queued()
    assert result.sent == count, result
    return {
        "drain_queries_per_msg": len(queries) / count,
        "drain_msg_per_s": count / result.seconds,
    }


def _concurrency() -> dict:
    from django.test.utils import override_settings

    from benchmarks._support import FakeTwilioBackend
    from sms.testing import FakeTwilio
    from sms_outbox.drain.run import send_queued

    figures = {}
    with (
        FakeTwilio(latency=LATENCY) as fake,
        override_settings(
            SMS_OUTBOX_BACKEND="benchmarks._support.FakeTwilioBackend",
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
        ),
    ):
        FakeTwilioBackend.fake_url = fake.url
        for threads, count in ((1, 100), (8, 800)):
            empty_outbox()
            _fill(count)
            result = send_queued(concurrency=threads)
            assert result.sent == count, result
            figures[f"c{threads}_msg_per_s"] = count / result.seconds
    return figures


def child(sizes: list[int]) -> None:
    """Run every measurement in this process's database; print JSON."""
    _setup()
    figures = {"sizes": {}}
    empty_outbox()
    figures.update(_enqueue_queries())
    for size in sizes:
        figures["sizes"][size] = {
            **_drain(size),
            **_drain(size, concurrency=2),
            **_drain_without_ids(size),
            **_drain(size, traced=True),
        }
    figures.update(_concurrency())
    print(json.dumps(figures))


def _run_child(db: str, sizes: list[int]) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env["OUTBOX_BACKEND"] = "sms.backends.locmem.SmsBackend"
    with fresh_database(db) as url:
        out = subprocess.run(
            [sys.executable, __file__, "--child", *map(str, sizes)],
            env={**env, "OUTBOX_DB": url},
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    if out.returncode:
        sys.stderr.write(out.stderr)
        out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument(
        "--db",
        nargs="+",
        choices=["sqlite", "postgres", "mariadb"],
        default=["sqlite", "postgres", "mariadb"],
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="Skip the drain beside django-post-office (benchmarks/compare.py).",
    )
    args = parser.parse_args()
    results = {db: _run_child(db, args.sizes) for db in args.db}
    print(table(results, args.sizes))
    if not args.no_compare:
        print()
        drains = {db: compare_sizes(db, args.sizes) for db in args.db}
        print(compare_table(drains, {db: compare_enqueue(db) for db in args.db}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child([int(size) for size in sys.argv[2:]])
    else:
        main()
