"""Store new outbox rows in one INSERT, without the transaction ``bulk_create`` adds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

    from sms_outbox.models import Message


def insert_rows(objs: Sequence[Message]) -> None:
    """INSERT ``objs`` (outbox rows, each with a unique ``reference``); set their pks.

    Like ``bulk_create()``, but ``bulk_create()`` opens a transaction even
    around a single statement, which in autocommit is a BEGIN and a COMMIT
    around every ``send_sms()``. Here one statement runs on its own (a single
    INSERT is atomic) and joins the caller's transaction if there is one; only
    when the database's parameter limit splits the rows, or the new primary
    keys must be read back, do the statements run in a transaction, so a
    message is stored whole or not at all.

    PostgreSQL, SQLite 3.35+ and MariaDB 10.5+ return the new primary keys
    from the INSERT. MySQL cannot, and the ids of a multi-row INSERT are not
    consecutive there under concurrent inserts (``innodb_autoinc_lock_mode``
    2), so they are read back by each row's unique ``reference``: receivers
    of ``message_queued`` never see ``pk=None``.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    # Takes Any: a concrete field's column is set, though typed Optional.
    quote: Callable[[Any], str] = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = connection.features.can_return_rows_from_bulk_insert
    limit = connection.features.max_query_params or 65535
    size = max(1, limit // len(fields))
    chunks = [objs[start : start + size] for start in range(0, len(objs), size)]
    if not returning and len({obj.reference for obj in objs} - {""}) != len(objs):
        raise ValueError(
            "Outbox rows need a unique, non-empty reference each: on a database "
            "without INSERT ... RETURNING they are found again by it."
        )
    atomic = len(chunks) > 1 or not returning
    with transaction.atomic(using=connection.alias) if atomic else nullcontext():
        with connection.cursor() as cursor:
            for chunk in chunks:
                params = [
                    field.get_db_prep_save(field.pre_save(obj, True), connection)
                    for obj in chunk
                    for field in fields
                ]
                cursor.execute(
                    f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
                    + ", ".join([row_sql] * len(chunk))
                    + (f" RETURNING {quote(meta.pk.column)}" if returning else ""),
                    params,
                )
                if returning:
                    for obj, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                        setattr(obj, meta.pk.attname, pk)
                else:
                    _read_back_pks(cursor, chunk)
                for obj in chunk:
                    obj._state.adding = False
                    obj._state.db = connection.alias


def _read_back_pks(cursor: CursorWrapper, chunk: Sequence[Message]) -> None:
    """Set the primary keys of the just-inserted ``chunk`` from their references.

    In primary-key order, so that were a reference ever repeated from an
    older row, the row inserted last, this one, wins.
    """
    meta = chunk[0]._meta
    quote = cursor.db.ops.quote_name
    column = quote(meta.get_field("reference").column)
    by_reference = {obj.reference: obj for obj in chunk}
    cursor.execute(
        f"SELECT {column}, {quote(meta.pk.column)} FROM {quote(meta.db_table)} "
        f"WHERE {column} IN ({', '.join(['%s'] * len(chunk))}) "
        f"ORDER BY {quote(meta.pk.column)}",
        list(by_reference),
    )
    for reference, pk in cursor.fetchall():
        setattr(by_reference[reference], meta.pk.attname, pk)
