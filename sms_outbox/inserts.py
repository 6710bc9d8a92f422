"""Store new outbox rows in one INSERT, without the transaction ``bulk_create`` adds."""

from __future__ import annotations

from contextlib import nullcontext

from django.db import connection, transaction
from django.db.models import Model


def insert_rows(objs: list[Model]) -> None:
    """INSERT ``objs`` (instances of one model) and set their primary keys.

    Like ``bulk_create()``, but ``bulk_create()`` opens a transaction even
    around a single statement, which in autocommit is a BEGIN and a COMMIT
    around every ``send_sms()``. Here one statement runs on its own (a single
    INSERT is atomic) and joins the caller's transaction if there is one; only
    when the database's parameter limit splits the rows do the statements run
    in a transaction, so a message is stored whole or not at all.
    """
    if not objs:
        return
    meta = type(objs[0])._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # PostgreSQL, SQLite 3.35+ and MariaDB return the new primary keys.
    returning = ""
    if connection.features.can_return_rows_from_bulk_insert:
        returning = f"RETURNING {quote(meta.pk.column)}"
    limit = connection.features.max_query_params or 65535
    size = max(1, limit // len(fields))
    chunks = [objs[start : start + size] for start in range(0, len(objs), size)]
    with transaction.atomic() if len(chunks) > 1 else nullcontext():
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
                    + (f" {returning}" if returning else ""),
                    params,
                )
                if returning:
                    for obj, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                        setattr(obj, meta.pk.attname, pk)
                for obj in chunk:
                    obj._state.adding = False
                    obj._state.db = connection.alias
