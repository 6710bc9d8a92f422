"""Fresh benchmark databases on SQLite, PostgreSQL and MariaDB: made, set, emptied."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time


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


def empty_outbox() -> None:
    """Empty the outbox's tables in the current database, as fast as it allows."""
    from django.db import connection

    from sms_outbox.models import Attempt, Message, Receipt

    # Every table whose rows point at a message, then the messages.
    tables = [model._meta.db_table for model in (Attempt, Receipt, Message)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # DELETE would leave every earlier run's dead rows and index
            # entries behind for the next measurement to wade through.
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
        elif connection.vendor == "mysql":
            # The same for InnoDB, whose TRUNCATE refuses a table another
            # table's foreign key points at unless the checks are off.
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for name in tables:
                cursor.execute(f"TRUNCATE {name}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for name in tables:
                cursor.execute(f"DELETE FROM {name}")
