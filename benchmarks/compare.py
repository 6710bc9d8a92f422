"""Drain the outbox and django-post-office side by side, each on a fresh database.

For each size, three times over: a new database (created and dropped on the
server, a new file for SQLite) is filled with N queued rows, then drained
through the management command in a child process: ``send_queued_sms`` with
the locmem SMS backend, and django-post-office 3.12's ``send_queued_mail``
with the locmem e-mail backend. The figures are medians of the three runs,
timed around the command only (not Django's start-up or the filling).
django-post-office lives in a virtualenv of its own, ``.venv-post-office``
(made on first use), never in the project's environment.

    .venv/bin/python benchmarks/compare.py [--sizes 5000 50000] [--db postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POST_OFFICE = "django-post-office==3.12.0"
POST_OFFICE_VENV = ROOT / ".venv-post-office"
RUNS = 3


@contextlib.contextmanager
def fresh_database(db: str):
    """Yield the URL (or SQLite path) of a new, empty database; drop it after."""
    name = f"bench_outbox_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="outbox-bench-") as folder:
            yield os.path.join(folder, "outbox.sqlite3")
        return
    if db == "postgres":
        default = "postgres://postgres@127.0.0.1:5432/postgres"
        server = os.environ.get("DATABASE_URL", default).rsplit("/", 1)[0]
        create = f"CREATE DATABASE {name}"
    else:
        default = "mysql://root:@127.0.0.1:3306/test"
        server = os.environ.get("MYSQL_URL", default).rsplit("/", 1)[0]
        create = (
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    _admin(server, create)
    try:
        yield f"{server}/{name}"
    finally:
        _admin(server, f"DROP DATABASE {name}")


def _admin(server: str, sql: str) -> None:
    """Run ``sql`` on ``server`` (a URL without the database name), autocommitted."""
    if server.startswith("postgres"):
        import psycopg

        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql)
        return
    import MySQLdb

    config = database_settings(f"{server}/mysql")
    conn = MySQLdb.connect(
        host=config["HOST"],
        port=int(config["PORT"]),
        user=config["USER"],
        password=config["PASSWORD"],
    )
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def database_settings(url: str) -> dict:
    """Return a ``DATABASES`` entry for a postgres:// or mysql:// URL or a file."""
    from urllib.parse import urlsplit

    if "://" not in url:
        pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"
        options = {"transaction_mode": "IMMEDIATE", "init_command": pragmas}
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url, "OPTIONS": options}
    parts = urlsplit(url)
    engine = "postgresql" if parts.scheme.startswith("postgres") else "mysql"
    return {
        "ENGINE": f"django.db.backends.{engine}",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": {"charset": "utf8mb4"} if engine == "mysql" else {},
    }


def post_office_python(db: str) -> str:
    """Return the interpreter of the post_office virtualenv; make it if missing."""
    python = POST_OFFICE_VENV / "bin" / "python"
    driver = "mysqlclient>=2.2" if db == "mariadb" else "psycopg[binary]>=3.1"
    module = "MySQLdb" if db == "mariadb" else "psycopg"
    check = [str(python), "-c", f"import post_office, {module}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    subprocess.run([sys.executable, "-m", "venv", str(POST_OFFICE_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", POST_OFFICE, driver]
    subprocess.run(pip, check=True)
    return str(python)


class _Counter:
    """Count statements, and the commits that make a write durable, on a connection.

    A commit is an outermost transaction's COMMIT, or a statement other than
    a SELECT run in autocommit (it commits on its own).
    """

    def __init__(self, connection) -> None:
        self.queries = self.commits = 0
        commit = connection.commit

        def counted_commit():
            self.commits += 1
            commit()

        connection.commit = counted_commit
        connection.execute_wrapper(self).__enter__()

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        if not context["connection"].in_atomic_block and not sql.lstrip()[
            :6
        ].upper().startswith("SELECT"):
            self.commits += 1
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
    counter = _Counter(connection)
    started = time.perf_counter()
    call_command("send_queued_sms", stdout=io.StringIO())
    seconds = time.perf_counter() - started
    assert Message.objects.filter(status="sent").count() == size
    return {
        "msg_per_s": size / seconds,
        "queries_per_100": 100 * counter.queries / size,
        "commits_per_100": 100 * counter.commits / size,
    }


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


def _run(python: str, args: list[str], env: dict) -> dict:
    out = subprocess.run(
        [python, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(db: str, size: int, runs: int = RUNS) -> dict:
    """Return median figures of ``runs`` drains of ``size`` rows by each library."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.outbox.proc_settings")
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
    figures["ratio"] = figures["msg_per_s"] / figures["post_office_msg_per_s"]
    return figures


def table(results: dict[str, dict[int, dict]]) -> str:
    """Return the comparison as Markdown, one column per database."""
    dbs = list(results)
    sizes = list(next(iter(results.values())))
    lines = ["| median of 3, fresh database | " + " | ".join(dbs) + " |"]
    lines.append("|---" * (len(dbs) + 1) + "|")
    rows = [
        ("send_queued_sms: messages/s", "{:,.0f}", "msg_per_s"),
        ("queries per 100 messages", "{:.1f}", "queries_per_100"),
        ("commits per 100 messages", "{:.1f}", "commits_per_100"),
        (
            "post_office send_queued_mail: messages/s",
            "{:,.0f}",
            "post_office_msg_per_s",
        ),
        ("outbox / post_office", "{:.2f}x", "ratio"),
    ]
    for size in sizes:
        for label, fmt, key in rows:
            cells = [fmt.format(results[db][size][key]) for db in dbs]
            lines.append(f"| {size:,}: {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--db",
        nargs="+",
        choices=["sqlite", "postgres", "mariadb"],
        default=["postgres"],
    )
    args = parser.parse_args()
    results = {
        db: {size: compare(db, size, args.runs) for size in args.sizes}
        for db in args.db
    }
    print(table(results))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--outbox"]:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_child_outbox(int(sys.argv[2]))))
    elif sys.argv[1:2] == ["--post-office"]:
        print(json.dumps(_child_post_office(int(sys.argv[2]), sys.argv[3])))
    else:
        main()
