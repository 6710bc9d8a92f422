"""What the send guards cost the enqueue: send_sms() per second with and without.

For each database (a fresh one, in a child process) it queues one-time codes
to one recipient each, as a login view does, in a transaction (a view under
``ATOMIC_REQUESTS``) and in autocommit: with no guards; with no guards but
a one-row counter upsert in the same transaction (the one statement the
guards add, without their Python: the floor of any counting done in a
statement of its own); and with a realistic ``SMS_GUARDS`` (country rules,
limits per recipient, prefix, country, international traffic and caller
IP, daily and monthly spend caps with prices, conversion feedback). The
three alternate in rounds so that all see the same table sizes and caches.
It prints the statements per ``send_sms()``, the medians of the rates, and
the slowdowns.

    .venv/bin/python benchmarks/guards.py [--db sqlite postgres mariadb] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.databases import fresh_database  # noqa: E402

ROUNDS = 5
GUARDS = {
    "countries": {
        "GB": "allow",
        "GG": "allow",
        "JE": "allow",
        "IM": "allow",
        "*": "block",
    },
    "home": ["GB"],
    "limits": {
        "recipient": "5/h",
        "prefix": "100000/h",
        "country": "100000/d",
        "international": "1000/d",
        "caller": "1000/h",
    },
    "daily_cap": "1000",
    "monthly_cap": "20000",
    # Counted and evaluated every 50 SMS, but nothing here confirms codes:
    # a threshold of 0 keeps the run from blocking itself.
    "conversion": {"sends": 50, "below": 0.0},
}
PRICES = {"GB": "0.04", "IE": "0.06", "*": "0.10"}


def _round(
    calls: int, start: int, guarded: bool, atomic: bool, floor: bool = False
) -> tuple[float, int]:
    """Queue ``calls`` codes; return (calls per second, statements per call).

    ``floor``: no guards, but each ``send_sms()`` shares a transaction with
    a one-row upsert of a counter, the statement the guards add, without
    any of their Python: what one extra statement costs by itself.
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, override_settings

    import sms
    from sms_outbox import guards, sql

    def one_counter(number: str) -> None:
        if floor:
            sql.add_to_counters(sql.outbox_connection(), [(f"floor|{number}", 0, 1, 0)])

    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    options = {"SMS_GUARDS": GUARDS if guarded else {}, "SMS_PRICES": PRICES}
    if not guarded:
        options["SMS_PRICES"] = {}
    # Spread over many prefixes, as real logins are.
    numbers = [f"+4474{(start + n) * 7919 % 10**8:08d}" for n in range(calls)]
    with override_settings(**options):
        began = time.perf_counter()
        for n, number in enumerate(numbers):
            message = sms.Message("Your code is 123456", "Acme", [number], kind="otp")
            message.connection = queued
            with guards.caller(ip=f"203.0.113.{n % 250}"):
                if atomic or floor:
                    with transaction.atomic():
                        one_counter(number)
                        message.send()
                else:
                    message.send()
        seconds = time.perf_counter() - began
        # Counted apart: capturing SQL slows every statement down.
        with CaptureQueriesContext(connection) as queries:
            with guards.caller(ip="203.0.113.1"):
                message = sms.Message(
                    "Code 1", "Acme", [f"+4474{start:08d}"], kind="otp"
                )
                message.connection = queued
                with transaction.atomic() if atomic or floor else nullcontext():
                    one_counter("+441134960000")
                    message.send()
    # Transaction control is not a statement the enqueue sends itself.
    control = ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    statements = [q for q in queries if q["sql"] not in control]
    return calls / seconds, len(statements)


def child(calls: int) -> None:
    """Measure in this process's database; print JSON."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    figures: dict[str, list[float]] = {}
    statements: dict[str, int] = {}
    start = 10_000_000
    _round(200, start, True, True)  # warm up: connection, caches, plans
    start += 200
    for _ in range(ROUNDS):
        for atomic in (True, False):
            for kind in ("plain", "floor", "guarded"):
                rate, per_call = _round(
                    calls, start, kind == "guarded", atomic, kind == "floor"
                )
                start += calls
                mode = "atomic" if atomic else "autocommit"
                name = f"{mode}_{kind}"
                figures.setdefault(name, []).append(rate)
                statements[name] = per_call
    print(
        json.dumps(
            {
                "rates": {k: statistics.median(v) for k, v in figures.items()},
                "statements": statements,
            }
        )
    )


def _run(db: str, calls: int) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env["OUTBOX_BACKEND"] = "sms.backends.locmem.SmsBackend"
    with fresh_database(db) as url:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(calls)],
            env={**env, "OUTBOX_DB": url},
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    if out.returncode:
        sys.stderr.write(out.stderr)
        out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict]) -> str:
    """Return the figures as Markdown, one column per database."""
    dbs = list(results)
    lines = ["| send_sms() of one code, medians | " + " | ".join(dbs) + " |"]
    lines.append("|---" * (len(dbs) + 1) + "|")
    for mode in ("atomic", "autocommit"):
        label = "in a transaction" if mode == "atomic" else "in autocommit"
        for kind, name in (
            ("plain", "no guards"),
            ("floor", "no guards, one counter upserted beside"),
            ("guarded", "guarded"),
        ):
            key = f"{mode}_{kind}"
            cells = [
                f"{results[db]['rates'][key]:,.0f}/s "
                f"({results[db]['statements'][key]} statements)"
                for db in dbs
            ]
            lines.append(f"| {label}, {name} | " + " | ".join(cells) + " |")
        rates = [results[db]["rates"] for db in dbs]
        for kind, name in (("floor", "one extra statement"), ("guarded", "guards")):
            cells = [
                f"{1 - r[f'{mode}_{kind}'] / r[f'{mode}_plain']:.0%}" for r in rates
            ]
            lines.append(f"| {label}: slowdown, {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db",
        nargs="+",
        choices=["sqlite", "postgres", "mariadb"],
        default=["sqlite", "postgres", "mariadb"],
    )
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(table({db: _run(db, args.calls) for db in args.db}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main()
