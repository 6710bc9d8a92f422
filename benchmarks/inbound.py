"""Benchmark inbound SMS and opt-out enforcement on SQLite and PostgreSQL.

Measures signed Twilio inbound webhooks recorded per second (through the
Django test client: verification, parsing, the INSERT and the keyword), and
the drain's rate with ``SMS_OUTBOX_ENFORCE_OPT_OUT`` on, against a
suppression list of ``--suppressed`` numbers (default 1,000,000), and off.
Each claim's lookup asks for as many numbers as the claim holds (distinct
recipients). The on/off figure is the median of each round's own ratio, as
the load of a shared machine changes between rounds. From the repository root:

    .venv/bin/python benchmarks/inbound.py [--suppressed 1000000] [--rows 20000]

PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``); the benchmark creates and
drops its own database there. Each database runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

TOKEN = "benchmark-twilio-auth-token-0123456789"
INBOUND = "/sms/inbound/twilio/"
FORM = "application/x-www-form-urlencoded"
ROUNDS = 5


def _setup() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _empty(*models) -> None:
    from django.db import connection

    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def _signed_posts(count: int) -> list[tuple[str, str]]:
    """Return ``count`` Twilio inbound bodies (one in ten a STOP), each signed."""
    from urllib.parse import urlencode

    from sms.testing.signing import twilio_signature

    posts = []
    for n in range(count):
        fields = {
            "MessageSid": f"SM{n:032d}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+4411349{n % 100000:05d}",
            "To": "+12065550100",
            "Body": "STOP" if n % 10 == 0 else f"Reply number {n}",
        }
        url = "http://testserver" + INBOUND
        posts.append((urlencode(fields), twilio_signature(url, fields, TOKEN)))
    return posts


def _post_all(client, posts: list[tuple[str, str]]) -> float:
    """POST each signed body to the webhook; return the seconds taken."""
    started = time.perf_counter()
    for body, signature in posts:
        response = client.post(INBOUND, body, FORM, HTTP_X_TWILIO_SIGNATURE=signature)
        assert response.status_code == 200, response.content
    return time.perf_counter() - started


def _inbound(count: int) -> dict:
    """Post ``count`` signed inbound SMS, then replay a quarter; return rates."""
    from django.test import Client
    from django.test.utils import override_settings

    from sms_outbox.models import InboundMessage

    posts = _signed_posts(count)
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, ALLOWED_HOSTS=["testserver"]):
        seconds = _post_all(Client(), posts)
        replay_seconds = _post_all(Client(), posts[: count // 4])
    assert InboundMessage.objects.count() == count
    return {
        "inbound_per_s": count / seconds,
        "replays_per_s": (count // 4) / replay_seconds,
    }


def _suppress_many(count: int) -> float:
    """Fill the suppression list with ``count`` numbers; return seconds taken."""
    from django.db import connection, transaction
    from django.utils import timezone

    from sms_outbox.models import Suppression, SuppressionChange

    _empty(Suppression, SuppressionChange)
    table = Suppression._meta.db_table
    now = timezone.now()
    started = time.perf_counter()
    # +1 206 numbers: none of them is a drained recipient (+44 113 ...).
    rows = ((f"+1206{n:07d}", "benchmark", "api", now) for n in range(count))
    columns = "phone_number, reason, source, created_at"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s)"
            cursor.executemany(sql, ((*row[:3], row[3].isoformat()) for row in rows))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    assert Suppression.objects.count() == count
    return time.perf_counter() - started


def _fill(count: int) -> None:
    import sms

    connection = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        data = [
            (f"Benchmark {n}", "Acme", [f"+4411349{n % 100000:05d}"])
            for n in range(start, start + size)
        ]
        sms.send_mass_sms(data, connection=connection)


def _drain(count: int, enforce: bool) -> float:
    import collections

    from django.test.utils import override_settings

    import sms
    from sms_outbox.drain.run import send_queued
    from sms_outbox.models import Attempt, Message

    _empty(Attempt, Message)
    _fill(count)
    sms.outbox = collections.deque(maxlen=10)
    with override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=enforce):
        result = send_queued()
    assert result.sent == count, result
    return count / result.seconds


def child(suppressed: int, rows: int, inbound: int) -> None:
    """Run every measurement in this process's database; print JSON."""
    _setup()
    from sms_outbox.models import InboundMessage

    _empty(InboundMessage)
    figures = _inbound(inbound)
    figures["fill_seconds"] = _suppress_many(suppressed)
    on, off = [], []
    for _ in range(ROUNDS):  # interleaved, so drift hits both alike
        off.append(_drain(rows, enforce=False))
        on.append(_drain(rows, enforce=True))
    figures["drain_off"] = statistics.median(off)
    figures["drain_on"] = statistics.median(on)
    figures["on_off"] = statistics.median(a / b for a, b in zip(on, off, strict=True))
    print(json.dumps(figures))


def _run_child(db: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env["OUTBOX_BACKEND"] = "sms.backends.locmem.SmsBackend"
    cleanup = None
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="inbound-bench-")
        env["OUTBOX_DB"] = os.path.join(folder, "inbound.sqlite3")
    else:
        import psycopg

        server = os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ).rsplit("/", 1)[0]
        name = f"bench_inbound_{os.getpid()}"

        def admin(sql):
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute(sql)

        admin(f"CREATE DATABASE {name}")
        cleanup = lambda: admin(f"DROP DATABASE {name}")  # noqa: E731
        env["OUTBOX_DB"] = f"{server}/{name}"
    counts = [str(args.suppressed), str(args.rows), str(args.inbound)]
    command = [sys.executable, __file__, "--child", *counts]
    try:
        out = subprocess.run(
            command, env=env, cwd=ROOT, check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as err:
        sys.stderr.write(err.stderr)
        raise
    finally:
        if cleanup:
            cleanup()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suppressed", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--inbound", type=int, default=2_000)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    results = {db: _run_child(db, args) for db in args.db}
    rows, n = f"{args.rows:,}", f"{args.suppressed:,}"
    lines = [
        ("inbound webhooks recorded/s", "{:,.0f}", "inbound_per_s"),
        ("inbound replays answered/s", "{:,.0f}", "replays_per_s"),
        (f"fill {n} suppressions: s", "{:.1f}", "fill_seconds"),
        (f"drain {rows}, enforcement off: msg/s", "{:,.0f}", "drain_off"),
        (f"drain {rows}, enforcement on: msg/s", "{:,.0f}", "drain_on"),
        ("on / off (median of the rounds' ratios)", "{:.0%}", "on_off"),
    ]
    print("measure".ljust(44) + "".join(db.rjust(12) for db in results))
    for label, fmt, key in lines:
        figures = "".join(fmt.format(r[key]).rjust(12) for r in results.values())
        print(label.ljust(44) + figures)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*(int(value) for value in sys.argv[2:5]))
    else:
        main()
