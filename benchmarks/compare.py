"""The outbox and django-post-office side by side, each on a fresh database.

The enqueue: ``ENQUEUE_CALLS`` calls of ``send_sms()`` through
``QueuedSmsBackend`` against as many of django-post-office's
``mail.send()``, one call at a time in autocommit, as request handlers make
them. The drain, for each size: a new database (created and dropped on the
server, a new file for SQLite) is filled with N queued rows, then drained
through the management command in a child process: ``send_queued_sms`` with
the locmem SMS backend, and django-post-office 3.12's ``send_queued_mail``
with the locmem e-mail backend. Each is run three times, interleaved, on a
fresh database each time; the figures are medians, timed around the calls or
the command only (not Django's start-up or the filling). Beside each rate is
the time its process spent waiting on the database (statements and commits,
on the connection of the thread that runs the calls or the command): the rest
is Python.
django-post-office lives in a virtualenv of its own, ``.venv-post-office``
(made on first use), never in the project's environment.

With ``--prepared``, both run on PostgreSQL with prepared statements
(``OPTIONS`` ``server_side_binding`` and ``prepare_threshold`` 5, as
docs/databases.md shows): psycopg prepares each library's statements once
they have run five times on a connection.

    .venv/bin/python benchmarks/compare.py [--sizes 5000 50000] [--db postgres]
        [--prepared]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.databases import fresh_database  # noqa: E402

POST_OFFICE = "django-post-office==3.12.0"
POST_OFFICE_VENV = ROOT / ".venv-post-office"
RUNS = 3
ENQUEUE_CALLS = 2000


def post_office_python(db: str) -> str:
    """Return the interpreter of the post_office virtualenv; make it if missing."""
    python = POST_OFFICE_VENV / "bin" / "python"
    driver = "mysqlclient>=2.2" if db == "mariadb" else "psycopg[binary]>=3.1"
    module = "MySQLdb" if db == "mariadb" else "psycopg"
    probe = "import importlib.util as u; assert u.find_spec('post_office') and "
    probe += f"u.find_spec('{module}')"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    if not python.exists():
        venv = [sys.executable, "-m", "venv", str(POST_OFFICE_VENV)]
        subprocess.run(venv, check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", POST_OFFICE, driver]
    subprocess.run(pip, check=True)
    return str(python)


def _run(python: str, args: list[str], env: dict) -> dict:
    out = subprocess.run(
        [python, str(ROOT / "benchmarks" / "drain_children.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(db: str, size: int, runs: int = RUNS) -> dict:
    """Return median figures of ``runs`` drains of ``size`` rows by each library."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env.update(NO_PROXY="127.0.0.1,localhost", PYTHONPATH=str(ROOT))
    env["OUTBOX_BACKEND"] = "sms.backends.locmem.SmsBackend"
    ours, theirs = [], []
    python = post_office_python(db)
    for _ in range(runs):
        with fresh_database(db) as url:
            ours.append(
                _run(sys.executable, ["--outbox", str(size)], env | {"OUTBOX_DB": url})
            )
        with fresh_database(db) as url:
            po_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
            theirs.append(_run(python, ["--post-office", str(size), url], po_env))
    figures = {key: statistics.median(run[key] for run in ours) for key in ours[0]}
    figures["post_office_msg_per_s"] = statistics.median(
        run["msg_per_s"] for run in theirs
    )
    figures["post_office_db_us_per_message"] = statistics.median(
        run["db_us_per_message"] for run in theirs
    )
    figures["ratio"] = figures["msg_per_s"] / figures["post_office_msg_per_s"]
    return figures


def compare_enqueue(db: str, calls: int = ENQUEUE_CALLS, runs: int = RUNS) -> dict:
    """Return median enqueue rates of ``runs`` rounds of ``calls`` by each library."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env.update(NO_PROXY="127.0.0.1,localhost", PYTHONPATH=str(ROOT))
    env["OUTBOX_BACKEND"] = "sms.backends.locmem.SmsBackend"
    ours, theirs = [], []
    python = post_office_python(db)
    for _ in range(runs):
        with fresh_database(db) as url:
            args = ["--outbox-enqueue", str(calls)]
            ours.append(_run(sys.executable, args, env | {"OUTBOX_DB": url}))
        with fresh_database(db) as url:
            po_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
            args = ["--post-office-enqueue", str(calls), url]
            theirs.append(_run(python, args, po_env))
    figures = {key: statistics.median(run[key] for run in ours) for key in ours[0]}
    figures["post_office_enqueue_per_s"] = statistics.median(
        run["enqueue_per_s"] for run in theirs
    )
    figures["post_office_enqueue_db_us_per_call"] = statistics.median(
        run["enqueue_db_us_per_call"] for run in theirs
    )
    figures["enqueue_ratio"] = (
        figures["enqueue_per_s"] / figures["post_office_enqueue_per_s"]
    )
    return figures


def compare_sizes(db: str, sizes: list[int], runs: int = RUNS) -> dict[int, dict]:
    """Return ``compare()``'s figures for each of ``sizes`` on ``db``."""
    return {size: compare(db, size, runs) for size in sizes}


def table(results: dict[str, dict[int, dict]], enqueue: dict[str, dict]) -> str:
    """Return the comparison as Markdown, one column per database."""
    dbs = list(results)
    sizes = list(next(iter(results.values())))
    lines = ["| medians, a fresh database each run | " + " | ".join(dbs) + " |"]
    lines.append("|---" * (len(dbs) + 1) + "|")
    enqueue_rows = [
        ("send_sms() through the outbox: calls/s", "{:,.0f}", "enqueue_per_s"),
        ("statements per send_sms()", "{:.2f}", "enqueue_queries_per_call"),
        ("send_sms(): µs waiting on the database", "{:,.0f}", "enqueue_db_us_per_call"),
        ("post_office mail.send(): calls/s", "{:,.0f}", "post_office_enqueue_per_s"),
        (
            "mail.send(): µs waiting on the database",
            "{:,.0f}",
            "post_office_enqueue_db_us_per_call",
        ),
        ("outbox / post_office", "{:.2f}x", "enqueue_ratio"),
    ]
    for label, fmt, key in enqueue_rows:
        cells = [fmt.format(enqueue[db][key]) for db in dbs]
        lines.append(f"| enqueue: {label} | " + " | ".join(cells) + " |")
    rows = [
        ("send_queued_sms: messages/s", "{:,.0f}", "msg_per_s"),
        ("queries per 100 messages", "{:.1f}", "queries_per_100"),
        ("commits per 100 messages", "{:.1f}", "commits_per_100"),
        ("WAL bytes per message (PostgreSQL)", "{:,.0f}", "wal_bytes_per_message"),
        ("µs per message waiting on the database", "{:,.0f}", "db_us_per_message"),
        (
            "post_office send_queued_mail: messages/s",
            "{:,.0f}",
            "post_office_msg_per_s",
        ),
        (
            "post_office: µs per message waiting on the database",
            "{:,.0f}",
            "post_office_db_us_per_message",
        ),
        ("outbox / post_office", "{:.2f}x", "ratio"),
    ]
    for size in sizes:
        for label, fmt, key in rows:
            values = [results[db][size][key] for db in dbs]
            cells = [fmt.format(v) if v == v else "-" for v in values]  # NaN: "-"
            lines.append(f"| {size:,}: {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--calls", type=int, default=ENQUEUE_CALLS)
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="PostgreSQL with prepared statements, for both libraries",
    )
    parser.add_argument(
        "--db",
        nargs="+",
        choices=["sqlite", "postgres", "mariadb"],
        default=["postgres"],
    )
    args = parser.parse_args()
    if args.prepared:
        os.environ["OUTBOX_PREPARE_THRESHOLD"] = "5"
    enqueue = {db: compare_enqueue(db, args.calls, args.runs) for db in args.db}
    results = {db: compare_sizes(db, args.sizes, args.runs) for db in args.db}
    print(table(results, enqueue))


if __name__ == "__main__":
    main()
