"""Child processes of benchmarks/compare.py: time the enqueue, and one drain.

``--outbox N`` fills the outbox (``OUTBOX_DB``, settings
``tests.support.proc_settings``) with N rows and runs ``send_queued_sms``;
``--post-office N URL`` does the same with django-post-office's
``send_queued_mail``, in django-post-office's own virtualenv.
``--outbox-enqueue N`` times N ``send_sms()`` calls through
``QueuedSmsBackend``, each in autocommit as a request handler makes it, and
``--post-office-enqueue N URL`` N calls of django-post-office's
``mail.send()``. Each prints its figures as JSON.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.databases import database_settings  # noqa: E402


class _Counter:
    """Count statements and commits on a connection, and time them.

    A commit is an outermost transaction's COMMIT, or a statement other than
    a SELECT run in autocommit (it commits on its own). Every commit waits
    for the server's log flush: the drain never turns that off. ``seconds``
    is the time spent in statements and commits, as the client waits for
    them: the server's work and the round trips.
    """

    def __init__(self, connection) -> None:
        self.queries = self.commits = 0
        self.seconds = 0.0
        commit = connection.commit

        def counted_commit():
            self.commits += 1
            started = time.perf_counter()
            try:
                commit()
            finally:
                self.seconds += time.perf_counter() - started

        connection.commit = counted_commit
        connection.execute_wrappers.append(self)

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        # BEGIN (SQLite's BEGIN IMMEDIATE runs as a statement) commits nothing.
        write = not sql.lstrip()[:6].upper().startswith(("SELECT", "BEGIN"))
        if write and not context["connection"].in_atomic_block:
            self.commits += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


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
    started = time.perf_counter()
    call_command("send_queued_sms", stdout=io.StringIO())
    seconds = time.perf_counter() - started
    assert Message.objects.filter(status="sent").count() == size
    return {
        "msg_per_s": size / seconds,
        "queries_per_100": 100 * counter.queries / size,
        "commits_per_100": 100 * counter.commits / size,
        "wal_bytes_per_message": _wal_bytes_since(connection, wal) / size,
        "db_us_per_message": 1e6 * counter.seconds / size,
    }


def _child_outbox_enqueue(calls: int) -> dict:
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    import sms
    from sms_outbox.models import Message
    from sms_outbox.optout import suppress

    # A suppression list that is not empty, as a live site's is.
    for n in range(100):
        suppress(f"+4411349619{n:02d}", "benchmark", "api")
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    numbers = [f"+4411349600{n % 100:02d}" for n in range(calls)]
    counter = _Counter(connection)
    started = time.perf_counter()
    for n, number in enumerate(numbers):
        sms.send_sms(f"Your code is {n:06d}", "Acme", [number], connection=queued)
    seconds = time.perf_counter() - started
    assert Message.objects.count() == calls
    return {
        "enqueue_per_s": calls / seconds,
        "enqueue_queries_per_call": counter.queries / calls,
        "enqueue_db_us_per_call": 1e6 * counter.seconds / calls,
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


def _configure_post_office(url: str) -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    database = database_settings(url)
    if "OUTBOX_PREPARE_THRESHOLD" in os.environ and url.startswith("postgres"):
        # The same prepared statements as the outbox's run (compare.py --prepared).
        database["OPTIONS"].update(
            server_side_binding=True,
            prepare_threshold=int(os.environ["OUTBOX_PREPARE_THRESHOLD"]),
        )
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=["post_office"],
        # mail.send() renders its subject and body as templates.
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        POST_OFFICE={
            "BACKENDS": {"default": "django.core.mail.backends.locmem.EmailBackend"}
        },
    )
    django.setup()
    call_command("migrate", verbosity=0)


def _child_post_office(size: int, url: str) -> dict:
    from django.core.management import call_command

    _configure_post_office(url)
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
    from django.db import connection

    counter = _Counter(connection)
    started = time.perf_counter()
    call_command("send_queued_mail", processes=1, verbosity=0)
    seconds = time.perf_counter() - started
    assert Email.objects.filter(status=STATUS.sent).count() == size
    return {
        "msg_per_s": size / seconds,
        "db_us_per_message": 1e6 * counter.seconds / size,
    }


def _child_post_office_enqueue(calls: int, url: str) -> dict:
    _configure_post_office(url)
    from django.db import connection
    from post_office import mail
    from post_office.models import Email

    counter = _Counter(connection)
    started = time.perf_counter()
    for n in range(calls):
        mail.send(
            f"someone{n % 100}@example.com",
            "acme@example.com",
            subject="Your code",
            message=f"Your code is {n:06d}",
        )
    seconds = time.perf_counter() - started
    assert Email.objects.count() == calls
    return {
        "enqueue_per_s": calls / seconds,
        "enqueue_db_us_per_call": 1e6 * counter.seconds / calls,
    }


if __name__ == "__main__":
    command, count = sys.argv[1], int(sys.argv[2])
    if command == "--outbox":
        print(json.dumps(_child_outbox(count)))
    elif command == "--outbox-enqueue":
        print(json.dumps(_child_outbox_enqueue(count)))
    elif command == "--post-office-enqueue":
        print(json.dumps(_child_post_office_enqueue(count, sys.argv[3])))
    else:
        print(json.dumps(_child_post_office(count, sys.argv[3])))
