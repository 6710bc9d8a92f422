"""The outbox's hand-written SQL, on the database the router gives the outbox.

Sites often route a queue to a database of its own, so nothing here uses
the default ``connection``: every statement runs on
``connections[router.db_for_write(Message)]``. Two statements are written by
hand because the ORM's versions cost more than the drain can afford: a
multi-row INSERT (``bulk_create()`` opens a transaction and prepares every
value through model instances) and the UPDATE that marks sent rows with
their provider ids (``Case(When(...))`` for a hundred ids costs more CPU than
sending the hundred messages). On PostgreSQL both pass their values as one
array per column (``unnest``), so the statement's text is the same for every
batch: psycopg converts it once and the server can reuse its plan. Each
array goes as one text parameter (``sms_outbox.arrays.literal()``): psycopg
would adapt a Python list element by element, which cost more than the
statements' execution on the server.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from sms_outbox import arrays

#: Rows of one CASE UPDATE outside PostgreSQL.
_CASE_ROWS = 300


def outbox_alias() -> str:
    """Return the alias of the database the outbox's rows are written to."""
    from sms_outbox.models import Message

    return router.db_for_write(Message)


def outbox_connection() -> BaseDatabaseWrapper:
    """Return the connection to the outbox's database (see ``outbox_alias()``)."""
    return connections[outbox_alias()]


#: PostgreSQL planner settings for statements that find claimed rows by
#: primary key. A drain leaves behind an index entry for every row version
#: it replaces, and nothing vacuums them until it ends; the claim index's
#: ``sending`` entries pile up by thousands, while the statistics (taken
#: before the drain, or never, right after a burst of enqueues) say the table
#: is small and ``sending`` rare. Left to choose, the planner scans those
#: entries (a bitmap scan visits the heap for each one, every time) or the
#: whole table, once per write: a 50,000-row drain spent 189 µs a message
#: marking rows sent, against 38 µs by primary key.
BY_PRIMARY_KEY = {
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
}


def set_local(connection: BaseDatabaseWrapper, settings: dict[str, str]) -> None:
    """Change PostgreSQL ``settings`` for the current transaction, in one statement.

    The names and values are this module's constants, written into the text.
    """
    with connection.cursor() as cursor:
        cursor.execute(set_local_sql(settings))


def set_local_sql(settings: dict[str, str]) -> str:
    """Return the statement ``set_local()`` runs for ``settings``."""
    calls = ", ".join(f"set_config('{k}', '{v}', true)" for k, v in settings.items())
    return f"SELECT {calls}"


#: What a result flush sets for its transaction on PostgreSQL.
RESULT_SETTINGS = {"synchronous_commit": "off", **BY_PRIMARY_KEY}


@contextmanager
def result_transaction(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Run the statements of one result flush as one transaction: one commit.

    On PostgreSQL the commit does not wait for the server to flush its log
    to disk (``synchronous_commit = off``, for this transaction only): a
    server crash can lose the results written in its last moments (at most
    three times ``wal_writer_delay``, 0.6 s by default), never a claim, and
    never leave a flush half-written. Their rows come back as still
    ``sending`` under a claim nobody holds, and go out again once the lease
    runs out, each logged with an ``unknown`` attempt, as if the worker had
    died before writing them. A client or connection failure loses nothing
    that was committed.
    """
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql":
            set_local(connection, RESULT_SETTINGS)
        yield


def insert(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[object]],
    returning: bool = False,
) -> list[object]:
    """INSERT ``rows`` (values already prepared for ``connection``) into ``model``.

    Return the new primary keys in row order when ``returning`` (the database
    must support ``INSERT ... RETURNING``), else an empty list. Runs in the
    caller's transaction, or in autocommit one statement at a time: a caller
    that needs all or nothing across statements opens the transaction.
    """
    pks: list[object] = []
    with connection.cursor() as cursor:
        for sql, params in insert_sql(connection, model, fields, rows, returning):
            cursor.execute(sql, params)
            if returning:
                pks += [pk for (pk,) in cursor.fetchall()]
    return pks


def insert_sql(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[object]],
    returning: bool = False,
) -> Iterator[tuple[str, list[Any]]]:
    """Yield the (SQL, params) statements ``insert()`` runs: one on PostgreSQL."""
    # Takes Any: a concrete field's column is set, though typed Optional.
    quote: Callable[[Any], str] = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ("
    head += ", ".join(quote(field.column) for field in fields) + ") "
    tail = f" RETURNING {quote(model._meta.pk.column)}" if returning else ""
    for sql, params in _insert_statements(connection, fields, rows):
        yield head + sql + tail, params


def insert_statements(connection: BaseDatabaseWrapper, fields: int, rows: int) -> int:
    """Return how many statements ``insert()`` runs for ``rows`` of ``fields``."""
    if connection.vendor == "postgresql":
        return 1
    return -(-rows // _rows_per_values(connection, fields))


def _rows_per_values(connection: BaseDatabaseWrapper, fields: int) -> int:
    limit = connection.features.max_query_params or 65535
    return max(1, limit // fields)


def _insert_statements(
    connection: BaseDatabaseWrapper,
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[object]],
) -> Iterator[tuple[str, list[Any]]]:
    """Yield (``SELECT``/``VALUES`` part, params) pairs that together hold ``rows``."""
    if connection.vendor == "postgresql":
        # One statement whatever the row count: one array per column.
        casts = ", ".join(f"%s::{arrays.array_type(f, connection)}" for f in fields)
        yield (
            f"SELECT * FROM unnest({casts})",
            [arrays.literal(c) for c in zip(*rows, strict=True)],
        )
        return
    size = _rows_per_values(connection, len(fields))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        yield (
            "VALUES " + ", ".join([row_sql] * len(chunk)),
            [value for row in chunk for value in row],
        )


def mark_sent(
    connection: BaseDatabaseWrapper,
    sent: Sequence[tuple[int, str]],
    token: str,
    backend: str,
    now: datetime.datetime,
) -> int:
    """Mark rows claim ``token`` holds as sent; return how many it changed.

    ``sent`` holds (row id, provider message id or "") pairs. The write is
    fenced by the claim: a row no longer ``sending`` under ``token`` (another
    worker took it back after the lease ran out) is left as it is.
    """
    written = 0
    with connection.cursor() as cursor:
        for sql, params in mark_sent_sql(connection, sent, token, backend, now):
            cursor.execute(sql, params)
            written += cursor.rowcount
    return written


def mark_sent_sql(
    connection: BaseDatabaseWrapper,
    sent: Sequence[tuple[int, str]],
    token: str,
    backend: str,
    now: datetime.datetime,
) -> Iterator[tuple[str, list[Any]]]:
    """Yield the (SQL, params) statements ``mark_sent()`` runs: one on PostgreSQL."""
    from sms_outbox.models import Message

    quote: Callable[[Any], str] = connection.ops.quote_name  # as in insert()
    column = {f.name: quote(f.column) for f in Message._meta.concrete_fields}
    stamp = Message._meta.get_field("sent_at").get_db_prep_save(now, connection)
    table = quote(Message._meta.db_table)
    head = (
        f"UPDATE {table} SET {column['status']} = %s, "
        f"{column['provider_message_id']} = {{ids}}, "
        f"{column['attempts']} = {table}.{column['attempts']} + 1, "
        f"{column['last_error']} = '', {column['backend']} = %s, "
        f"{column['sent_at']} = %s, {column['finished_at']} = %s, "
        f"{column['claimed_by']} = '', {column['lease_expires_at']} = NULL, "
        f"{column['updated_at']} = %s "
    )
    params = [backend[:255], stamp, stamp, stamp]
    status = f"{table}.{column['status']}"
    if connection.vendor == "postgresql":
        # An expression, so no index on status can drive the UPDATE: the rows
        # are found by primary key (see BY_PRIMARY_KEY).
        status = f"({status} || '')"
    fence = f"{table}.{column['claimed_by']} = %s AND {status} = %s"
    fence_params = [token, Message.Status.SENDING.value]
    sent_status = Message.Status.SENT.value
    for sql, (before, after) in _sent_statements(connection, head, fence, sent):
        yield sql, [sent_status, *before, *params, *after, *fence_params]


def _sent_statements(
    connection: BaseDatabaseWrapper,
    head: str,
    fence: str,
    sent: Sequence[tuple[int, str]],
) -> Iterator[tuple[str, tuple[list[Any], list[Any]]]]:
    """Yield (SQL, (params before, params after the SET)) for ``mark_sent()``."""
    from sms_outbox.models import Message

    meta = Message._meta
    quote: Callable[[Any], str] = connection.ops.quote_name  # as in insert()
    pk = f"{quote(meta.db_table)}.{quote(meta.pk.column)}"
    if connection.vendor == "postgresql":
        # The rows are found by ``id = ANY(ids)``, an index condition on the
        # primary key, and each takes its provider id by its place in the
        # array. Joined to ``unnest(ids, provider_ids)`` instead, the planner
        # (which expects the fence to match almost no row: the claim's token
        # is in no statistics) walked the whole primary key and compared each
        # claimed row with every element: 8 ms a batch of 100 at 5,000 rows,
        # against 1.2 ms this way.
        ids, provider_ids = zip(*((i, p[:64]) for i, p in sent), strict=True)
        id_type = arrays.array_type(meta.pk, connection)
        pid_type = arrays.array_type(meta.get_field("provider_message_id"), connection)
        sql = (
            head.format(ids=f"v.provider_ids[array_position(v.ids, {pk})]")
            + f"FROM (SELECT %s::{id_type} AS ids, %s::{pid_type} AS provider_ids) "
            + f"AS v WHERE {pk} = ANY(v.ids) AND {fence}"
        )
        yield sql, ([], [arrays.literal(ids), arrays.literal(provider_ids)])
        return
    for start in range(0, len(sent), _CASE_ROWS):
        chunk = sent[start : start + _CASE_ROWS]
        with_id = [(i, p[:64]) for i, p in chunk if p]
        case = "''"
        if with_id:
            case = f"CASE {pk} {' '.join(['WHEN %s THEN %s'] * len(with_id))} "
            case += "ELSE '' END"
        sql = head.format(ids=case) + f"WHERE {pk} IN ("
        sql += ", ".join(["%s"] * len(chunk)) + f") AND {fence}"
        before = [value for pair in with_id for value in pair]
        yield sql, (before, [i for i, _ in chunk])
