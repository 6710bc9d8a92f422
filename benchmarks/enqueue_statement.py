"""What the enqueue's one statement costs PostgreSQL, form by form.

``send_sms()`` through ``QueuedSmsBackend`` is one ``INSERT ... SELECT``
whose ``WHERE NOT EXISTS`` checks the opt-out list. This script records the
statements of real ``send_sms()`` calls on a fresh database, then replays
their values in autocommit, interleaved in rounds, in four forms:

- as sent (client-side binding, as Django sends every statement);
- without the opt-out condition (``INSERT ... SELECT`` of cast values);
- as a plain ``INSERT ... VALUES`` of the same values;
- as sent, but as a prepared statement (server-side binding, parsed and
  planned once per connection: what the outbox does where the connection's
  ``OPTIONS["prepare_threshold"]`` is set).

It prints the median microseconds per statement of each form: what the
condition costs, and how much of that is planning.

    .venv/bin/python benchmarks/enqueue_statement.py [--calls 500] [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.databases import fresh_database  # noqa: E402


def _record(calls: int) -> list[tuple[str, list]]:
    """Queue ``calls`` codes through the outbox; return each INSERT and its values."""
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    import sms
    from sms_outbox.optout import suppress

    for n in range(100):  # a suppression list that is not empty
        suppress(f"+4411349619{n:02d}", "benchmark", "api")
    statements: list[tuple[str, list]] = []

    def record(execute, sql, params, many, context):
        if sql.startswith("INSERT") and "NOT EXISTS" in sql:
            statements.append((sql, list(params)))
        return execute(sql, params, many, context)

    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    with connection.execute_wrapper(record):
        for n in range(calls):
            number = f"+4411349600{n % 100:02d}"
            sms.send_sms(f"Your code is {n:06d}", "Acme", [number], connection=queued)
    connection.close()
    return statements


def _forms(statements: list[tuple[str, list]]) -> dict[str, list[tuple[str, list]]]:
    """Return the statements in each of the four forms, with their values."""
    sql = statements[0][0]
    condition = re.search(r" WHERE NOT EXISTS \(.*\)(?= RETURNING)", sql)
    assert condition is not None, sql
    bare = sql[: condition.start()] + sql[condition.end() :]
    head, _, rest = sql.partition(") SELECT ")
    values = len(re.findall(r"CAST\(%s", rest))
    returning = sql.rsplit(" RETURNING ", 1)[1]
    marks = ", ".join(["%s"] * values)
    plain = f"{head}) VALUES ({marks}) RETURNING {returning}"
    return {
        "as sent": statements,
        "as sent, prepared": statements,
        "without the opt-out condition": [(bare, p[:values]) for _, p in statements],
        "plain INSERT ... VALUES": [(plain, p[:values]) for _, p in statements],
    }


def _replay(url: str, forms: dict[str, list[tuple[str, list]]], rounds: int) -> dict:
    import psycopg

    conn = psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True)
    conn.prepare_threshold = 1 << 30  # only prepare=True prepares
    table = re.search(r'INSERT INTO ("[^"]+")', forms["as sent"][0][0]).group(1)
    timings: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(rounds):
        for name, statements in forms.items():
            prepared = name.endswith("prepared")
            cursor = conn.cursor() if prepared else psycopg.ClientCursor(conn)
            started = time.perf_counter()
            for sql, params in statements:
                cursor.execute(sql, params, prepare=True if prepared else None)
            timings[name].append(
                1e6 * (time.perf_counter() - started) / len(statements)
            )
            conn.execute(f"TRUNCATE {table} CASCADE")
    conn.close()
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.proc_settings")
    os.environ.setdefault("OUTBOX_BACKEND", "sms.backends.locmem.SmsBackend")
    with fresh_database("postgres") as url:
        os.environ["OUTBOX_DB"] = url
        statements = _record(args.calls)
        medians = _replay(url, _forms(statements), args.rounds)
    print("| the enqueue's INSERT, in autocommit (medians) | µs per statement |")
    print("|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:,.0f} |")


if __name__ == "__main__":
    main()
