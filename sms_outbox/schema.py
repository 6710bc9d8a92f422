"""Whether the outbox's tables exist: a forgotten ``migrate`` is not an outage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections

from sms.exceptions import SmsConfigurationError

__all__ = ["missing_tables_explained", "is_missing_table", "unapplied_migrations"]

#: PostgreSQL's SQLSTATE for "relation ... does not exist" (undefined_table).
POSTGRESQL_UNDEFINED_TABLE = "42P01"
#: MySQL's and MariaDB's error number for "Table '...' doesn't exist".
MYSQL_NO_SUCH_TABLE = 1146


def is_missing_table(err: BaseException) -> bool:
    """Return True if the database error ``err`` says that a table does not exist.

    Asks the driver's own error (Django's wrapper keeps it as ``__cause__``):
    its SQLSTATE on PostgreSQL, its error number on MySQL and MariaDB, its
    message on SQLite, which has no code for it. Any other error (a lost
    connection, a lock, a constraint) is not a missing table.
    """
    if not isinstance(err, DatabaseError):
        return False
    driver_error = err.__cause__ if err.__cause__ is not None else err
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(
        driver_error, "pgcode", None
    )
    if sqlstate is not None:
        return bool(sqlstate == POSTGRESQL_UNDEFINED_TABLE)
    args = getattr(driver_error, "args", ())
    if args and args[0] == MYSQL_NO_SUCH_TABLE:
        return True
    module = type(driver_error).__module__
    return module.startswith("sqlite3") and str(driver_error).startswith(
        "no such table: "
    )


@contextmanager
def missing_tables_explained(alias: str) -> Iterator[None]:
    """Turn a missing table on ``alias`` into ``SmsConfigurationError``.

    A table that does not exist is a configuration error, not an outage:
    retrying cannot help and ``fail_silently`` must not hide it. The
    error says to run ``migrate`` and chains the database's own error. Every
    other database error passes through unchanged.
    """
    try:
        yield
    except DatabaseError as err:
        if not is_missing_table(err):
            raise
        raise SmsConfigurationError(
            f"The outbox's tables are missing from the database {alias!r} "
            f"({_message(err)}): run `python manage.py migrate` to create them."
        ) from err


def _message(err: DatabaseError) -> str:
    """Return the first line of the database's message, without MySQL's number."""
    args = err.args
    text = args[1] if len(args) == 2 and isinstance(args[0], int) else str(err)
    lines = str(text).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def unapplied_migrations(alias: str) -> list[str]:
    """Return the names of the ``sms_outbox`` migrations not applied on ``alias``.

    Reads the migration files and the ``django_migrations`` table, as
    ``migrate`` does; raises ``DatabaseError`` if the database cannot be read.
    """
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    applied = loader.applied_migrations or {}
    return sorted(
        name
        for app_label, name in loader.graph.nodes
        if app_label == "sms_outbox" and (app_label, name) not in applied
    )
