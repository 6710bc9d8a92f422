"""Child processes of benchmarks/compare.py: fill a database and time one drain.

``--outbox N`` fills the outbox (``OUTBOX_DB``, settings
``tests.support.proc_settings``) with N rows and runs ``send_queued_sms``;
``--post-office N URL`` does the same with django-post-office's
``send_queued_mail``, in django-post-office's own virtualenv. Each prints its
figures as JSON.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.databases import database_settings  # noqa: E402


class WriterCount:
    """Count the statements and transactions the drain sends over its writer.

    On PostgreSQL full batches of results and claims made ahead go over a
    second connection (``sms_outbox.writer``), each as one transaction of
    several statements, which the Django connection's counters never see. A
    claim's commit waits for the log flush; a batch of results, which sets
    ``synchronous_commit = off``, does not.
    """

    def __init__(self) -> None:
        self.queries = self.commits = self.waiting = 0

    def __enter__(self) -> WriterCount:
        from sms_outbox.writer import Writer

        from sms_outbox import sql

        self._send = send = Writer.send
        results = sql.set_local_sql(sql.RESULT_SETTINGS)  # a batch's first statement

        def counted_send(writer, statements):
            self.queries += len(statements)
            self.commits += 1
            self.waiting += statements[0][0] != results
            return send(writer, statements)

        Writer.send = counted_send
        return self

    def __exit__(self, *exc) -> None:
        from sms_outbox.writer import Writer

        Writer.send = self._send


class _Counter:
    """Count statements and commits on a connection, and which commits wait.

    A commit is an outermost transaction's COMMIT, or a statement other than
    a SELECT run in autocommit (it commits on its own). It waits for the
    server's log flush unless its transaction set ``synchronous_commit = off``.
    Statements and commits over the drain's writer connection are added by
    ``WriterCount``.
    """

    def __init__(self, connection) -> None:
        self.queries = self.commits = self.waiting = 0
        self.lazy = False
        commit = connection.commit

        def counted_commit():
            self.commits += 1
            self.waiting += not self.lazy
            self.lazy = False
            commit()

        connection.commit = counted_commit
        connection.execute_wrappers.append(self)

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        self.lazy = self.lazy or "'synchronous_commit', 'off'" in sql
        # BEGIN (SQLite's BEGIN IMMEDIATE runs as a statement) commits nothing.
        write = not sql.lstrip()[:6].upper().startswith(("SELECT", "BEGIN"))
        if write and not context["connection"].in_atomic_block:
            self.commits += 1
            self.waiting += 1
        return execute(sql, params, many, context)


def _child_outbox(size: int) -> dict:
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    import sms
    from sms_outbox.models import Message

    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for start in range(0, size, 1000):
        count = min(1000, size - start)
        data = [
            (f"Benchmark {start + n}", "Acme", ["+441134960000"]) for n in range(count)
        ]
        sms.send_mass_sms(data, connection=queued)
    wal = _wal_position(connection)
    counter = _Counter(connection)
    with WriterCount() as writer:
        started = time.perf_counter()
        call_command("send_queued_sms", stdout=io.StringIO())
        seconds = time.perf_counter() - started
    assert Message.objects.filter(status="sent").count() == size
    return {
        "msg_per_s": size / seconds,
        "queries_per_100": 100 * (counter.queries + writer.queries) / size,
        "commits_per_100": 100 * (counter.commits + writer.commits) / size,
        "waiting_commits_per_100": 100 * (counter.waiting + writer.waiting) / size,
        "wal_bytes_per_message": _wal_bytes_since(connection, wal) / size,
    }


def _wal_position(connection) -> str | None:
    """Return PostgreSQL's WAL insert position (None elsewhere).

    The log the server writes for a drain is its work, row versions and index
    entries included, and unlike the rate it does not move with the load of
    a shared machine.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        return cursor.fetchone()[0]


def _wal_bytes_since(connection, position: str | None) -> float:
    if position is None:
        return float("nan")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)",
            [position],
        )
        return float(cursor.fetchone()[0])


def _child_post_office(size: int, url: str) -> dict:
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        DATABASES={"default": database_settings(url)},
        INSTALLED_APPS=["post_office"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        POST_OFFICE={
            "BACKENDS": {"default": "django.core.mail.backends.locmem.EmailBackend"}
        },
    )
    django.setup()
    call_command("migrate", verbosity=0)
    from post_office.models import STATUS, Email

    Email.objects.bulk_create(
        (
            Email(
                from_email="acme@example.com",
                to=["someone@example.com"],
                subject=f"Benchmark {n}",
                message=f"Benchmark {n}",
                status=STATUS.queued,
            )
            for n in range(size)
        ),
        batch_size=1000,
    )
    started = time.perf_counter()
    call_command("send_queued_mail", processes=1, verbosity=0)
    seconds = time.perf_counter() - started
    assert Email.objects.filter(status=STATUS.sent).count() == size
    return {"msg_per_s": size / seconds}


if __name__ == "__main__":
    if sys.argv[1] == "--outbox":
        print(json.dumps(_child_outbox(int(sys.argv[2]))))
    else:
        print(json.dumps(_child_post_office(int(sys.argv[2]), sys.argv[3])))
