"""Benchmark the outbox health figures on a 1,000,000-row outbox, SQLite and PostgreSQL.

It fills the outbox with N rows (default 1,000,000) spread over the last
``--days`` days (default 30): sent, 1% failed, 1% cancelled, a backlog of
queued rows (due and scheduled), some sending rows past their lease, and an
attempt log with a ``sent``/``failed`` entry per finished row plus a retry
with an error code for one row in 20. The rows are built by the database
itself (``generate_series`` on PostgreSQL, a recursive CTE on SQLite). Then
it times ``sms_outbox.health.get_queue_health()`` (what the admin page and
``sms_outbox_status`` run) and prints the queries, each one's median time
and the indexes its plan uses. Run from the repository root:

    .venv/bin/python benchmarks/health.py [--rows 1000000] [--days 30]
                                          [--db sqlite postgres]

PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``); the benchmark creates and
drops its own database there. Each database runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

REPEAT = 7
CODES = ("30003", "20429", "21211", "30005", "30008", "11200")

# Row i (0 = newest) was created i * step seconds ago. The newest BACKLOG
# rows are still queued (one in ten scheduled for later), the next SENDING
# rows are sending (a quarter past their lease); the rest finished, 1%
# failed and 1% cancelled, and one in 20 logged a retry first.
BACKLOG, SENDING = 5000, 200

_PG_MESSAGES = """
INSERT INTO sms_outbox_message (batch_id, body, originator, recipient, status,
  priority, next_attempt_at, attempts, last_error, backend, provider_message_id,
  reference, created_at, updated_at, sent_at, finished_at, claimed_by,
  lease_expires_at, delivery_status, delivery_status_raw, delivery_error_code)
SELECT md5(i::text)::uuid, 'Benchmark message ' || i, 'Acme',
  '+4411349' || lpad((i %% 100000)::text, 5, '0'),
  s.status, 0,
  CASE WHEN s.status = 'queued' AND i %% 10 = 0
       THEN now() + interval '1 hour' ELSE c.at END,
  CASE WHEN s.status IN ('sent', 'failed') THEN 1 ELSE 0 END, '', '',
  CASE WHEN s.status = 'sent' THEN 'SM' || md5(i::text) ELSE '' END,
  md5('r' || i::text), c.at, c.at,
  CASE WHEN s.status = 'sent' THEN c.at + interval '10 seconds' END,
  CASE WHEN s.status IN ('sent', 'failed', 'cancelled')
       THEN c.at + interval '10 seconds' END,
  CASE WHEN s.status = 'sending' THEN 'bench' ELSE '' END,
  CASE WHEN s.status = 'sending'
       THEN now() + CASE WHEN i %% 4 = 0 THEN interval '-1 minute'
                         ELSE interval '4 minutes' END END,
  '', '', ''
FROM generate_series(0, %(rows)s - 1) AS i,
  LATERAL (SELECT now() - make_interval(secs => i * %(step)s) AS at) AS c,
  LATERAL (SELECT CASE
    WHEN i < %(backlog)s THEN 'queued'
    WHEN i < %(backlog)s + %(sending)s THEN 'sending'
    WHEN i %% 100 = 7 THEN 'failed'
    WHEN i %% 100 = 8 THEN 'cancelled'
    ELSE 'sent' END AS status) AS s
"""

_SQLITE_MESSAGES = """
INSERT INTO sms_outbox_message (batch_id, body, originator, recipient, status,
  priority, next_attempt_at, attempts, last_error, backend, provider_message_id,
  reference, created_at, updated_at, sent_at, finished_at, claimed_by,
  lease_expires_at, delivery_status, delivery_status_raw, delivery_error_code)
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %(rows)s),
c(i, at, status) AS (
  SELECT i, julianday('now') - i * %(step)s / 86400.0, CASE
    WHEN i < %(backlog)s THEN 'queued'
    WHEN i < %(backlog)s + %(sending)s THEN 'sending'
    WHEN i %% 100 = 7 THEN 'failed'
    WHEN i %% 100 = 8 THEN 'cancelled'
    ELSE 'sent' END FROM n)
SELECT lower(hex(randomblob(16))), 'Benchmark message ' || i, 'Acme',
  '+4411349' || substr('00000' || (i %% 100000), -5),
  status, 0,
  strftime('%%Y-%%m-%%d %%H:%%M:%%f', CASE WHEN status = 'queued' AND i %% 10 = 0
       THEN julianday('now') + 1 / 24.0 ELSE at END),
  CASE WHEN status IN ('sent', 'failed') THEN 1 ELSE 0 END, '', '',
  CASE WHEN status = 'sent' THEN 'SM' || lower(hex(randomblob(16))) ELSE '' END,
  lower(hex(randomblob(16))),
  strftime('%%Y-%%m-%%d %%H:%%M:%%f', at), strftime('%%Y-%%m-%%d %%H:%%M:%%f', at),
  CASE WHEN status = 'sent'
       THEN strftime('%%Y-%%m-%%d %%H:%%M:%%f', at + 10 / 86400.0) END,
  CASE WHEN status IN ('sent', 'failed', 'cancelled')
       THEN strftime('%%Y-%%m-%%d %%H:%%M:%%f', at + 10 / 86400.0) END,
  CASE WHEN status = 'sending' THEN 'bench' ELSE '' END,
  CASE WHEN status = 'sending' THEN strftime('%%Y-%%m-%%d %%H:%%M:%%f',
       julianday('now') + CASE WHEN i %% 4 = 0 THEN -1 ELSE 4 END / 1440.0) END,
  '', '', ''
FROM c
"""

# One sent/failed entry per finished row, one retry (with a code) per 20 rows.
_ATTEMPTS = """
INSERT INTO sms_outbox_attempt (message_id, created_at, outcome, error_code,
  error_text, duration_ms)
SELECT id, finished_at, status, CASE WHEN status = 'failed' THEN '21211' ELSE '' END,
  '', 20.0
FROM sms_outbox_message WHERE status IN ('sent', 'failed')
UNION ALL
SELECT id, created_at, 'retry', CASE id %% 6 {codes} END, 'Unavailable', 30.0
FROM sms_outbox_message WHERE id %% 20 = 0
"""


def _attempts_sql() -> str:
    cases = " ".join(f"WHEN {n} THEN '{code}'" for n, code in enumerate(CODES))
    return _ATTEMPTS.format(codes=cases)


def _fill(rows: int, days: float) -> float:
    from django.db import connection

    params = {
        "rows": rows,
        "step": days * 86400 / rows,
        "backlog": BACKLOG,
        "sending": SENDING,
    }
    started = time.perf_counter()
    sql = _PG_MESSAGES if connection.vendor == "postgresql" else _SQLITE_MESSAGES
    with connection.cursor() as cursor:
        cursor.execute(sql % params)
        cursor.execute(_attempts_sql() % {})
    if connection.vendor == "postgresql":
        # What autovacuum does to a table after a day of traffic: index-only
        # scans need the visibility map.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE sms_outbox_message")
            cursor.execute("VACUUM ANALYZE sms_outbox_attempt")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def _indexes(sql: str, params) -> list[str]:
    """Return how the database's plan reads each table for ``sql``."""
    from django.db import connection

    if connection.vendor == "postgresql":
        explain, pattern = "EXPLAIN ", r"(?:using (\w+)|(Seq Scan) on)"
    else:
        explain = "EXPLAIN QUERY PLAN "
        pattern = r"(?:USING (?:COVERING )?INDEX (\w+)|(SCAN \w+)$)"
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        lines = [str(row[-1]) for row in cursor.fetchall()]
    found = []
    for line in lines:
        for match in re.finditer(pattern, line):
            found.append(match.group(1) or match.group(2))
    return sorted(set(found))


def _time(sql: str, params) -> float:
    """Return milliseconds to run ``sql`` and fetch all its rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, params)
        cursor.fetchall()
        return (time.perf_counter() - started) * 1000


def child(rows: int, days: float) -> None:
    """Fill this process's database and time the health figures; print JSON."""
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    from sms_outbox.health import get_queue_health
    from sms_outbox.models import Attempt, Message

    fill_seconds = _fill(rows, days)
    get_queue_health()  # warm the caches, as a page viewed twice would
    totals, health = [], None
    for _ in range(REPEAT):
        started = time.perf_counter()
        health = get_queue_health()
        totals.append(time.perf_counter() - started)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        get_queue_health()
    # Each statement again on its own, with the same parameters and every row
    # fetched: SQLite computes most of a GROUP BY while rows are fetched.
    query_ms = [
        statistics.median(_time(sql, params) for _ in range(REPEAT))
        for sql, params in statements
    ]
    print(
        json.dumps(
            {
                "rows": Message.objects.count(),
                "attempts": Attempt.objects.count(),
                "fill_seconds": fill_seconds,
                "queries": len(statements),
                "total_ms": statistics.median(totals) * 1000,
                "query_ms": query_ms,
                "indexes": [_indexes(sql, params) for sql, params in statements],
                "last_day": health.sent_last_day + health.failed_last_day,
                "due": health.due,
            }
        )
    )


def _run_child(db: str, rows: int, days: float) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    cleanup = None
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="health-bench-")
        env["OUTBOX_DB"] = os.path.join(folder, "outbox.sqlite3")
        cleanup = lambda: subprocess.run(["rm", "-rf", folder], check=False)  # noqa: E731
    else:
        import psycopg

        server = os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ).rsplit("/", 1)[0]
        name = f"bench_health_{os.getpid()}"

        def admin(sql):
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute(sql)

        admin(f"CREATE DATABASE {name}")
        cleanup = lambda: admin(f"DROP DATABASE {name}")  # noqa: E731
        env["OUTBOX_DB"] = f"{server}/{name}"
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(rows), str(days)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        sys.stderr.write(err.stderr)
        raise
    finally:
        cleanup()
    return json.loads(out.stdout.strip().splitlines()[-1])


LABELS = (
    "rows by status",
    "due now and the oldest due",
    "finished per 10 min (sent, failed, last hour, 24 h)",
    "retries per 10 min",
    "top error codes",
    "sending past their lease",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    for db in args.db:
        result = _run_child(db, args.rows, args.days)
        print(
            f"{db}: {result['rows']:,} rows, {result['attempts']:,} attempts "
            f"(built in {result['fill_seconds']:.0f} s), "
            f"{result['last_day']:,} finished in the last 24 h, {result['due']:,} due"
        )
        print(
            f"  get_queue_health(): {result['queries']} queries, "
            f"{result['total_ms']:.0f} ms (median of {REPEAT})"
        )
        for label, ms, indexes in zip(
            LABELS, result["query_ms"], result["indexes"], strict=False
        ):
            print(f"  {ms:8.1f} ms  {label:<52} {', '.join(indexes)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
