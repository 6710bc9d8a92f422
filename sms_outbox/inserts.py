"""Store new outbox rows in one INSERT, without the transaction ``bulk_create`` adds."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from sms_outbox import sql

if TYPE_CHECKING:
    from sms_outbox.models import Message


def insert_rows(objs: Sequence[Message]) -> None:
    """INSERT ``objs`` (outbox rows, each with a unique ``reference``); set their pks.

    Like ``bulk_create()``, but ``bulk_create()`` opens a transaction even
    around a single statement, which in autocommit is a BEGIN and a COMMIT
    around every ``send_sms()``. Here one statement runs on its own (a single
    INSERT is atomic) and joins the caller's transaction if there is one; only
    when the database's parameter limit splits the rows, or the new primary
    keys must be read back, do the statements run in a transaction, so a
    message is stored whole or not at all. The rows go to the outbox's
    database (``router.db_for_write``).

    PostgreSQL, SQLite 3.35+ and MariaDB 10.5+ return the new primary keys
    from the INSERT. MySQL cannot, and the ids of a multi-row INSERT are not
    consecutive there under concurrent inserts (``innodb_autoinc_lock_mode``
    2), so they are read back by each row's unique ``reference``: receivers
    of ``message_queued`` never see ``pk=None``.

    Only the primary key is set on ``objs``, as on any instance built with a
    pk: saving one later UPDATEs its row (the pk has no default, so Django
    tries an UPDATE first), on the database the router picks for it.
    """
    if not objs:
        return
    model = type(objs[0])
    connection = sql.outbox_connection()
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    returning = connection.features.can_return_rows_from_bulk_insert
    if not returning and len({obj.reference for obj in objs} - {""}) != len(objs):
        raise ValueError(
            "Outbox rows need a unique, non-empty reference each: on a database "
            "without INSERT ... RETURNING they are found again by it."
        )
    for obj, pk in zip(objs, _insert(connection, objs, fields), strict=True):
        setattr(obj, model._meta.pk.attname, pk)


def _insert(
    connection: BaseDatabaseWrapper,
    objs: Sequence[Message],
    fields: list[Field[Any, Any]],
) -> list[object]:
    """INSERT ``objs``, in a transaction if that takes more than one statement.

    Return their primary keys, in order.
    """
    rows = [
        [
            field.get_db_prep_save(field.pre_save(obj, True), connection)
            for field in fields
        ]
        for obj in objs
    ]
    returning = connection.features.can_return_rows_from_bulk_insert
    several = sql.insert_statements(connection, len(fields), len(rows)) > 1
    atomic = several or not returning
    with transaction.atomic(using=connection.alias) if atomic else nullcontext():
        pks = sql.insert(connection, type(objs[0]), fields, rows, returning=returning)
        return pks if returning else _read_back_pks(connection, objs)


def _read_back_pks(
    connection: BaseDatabaseWrapper, objs: Sequence[Message]
) -> list[object]:
    """Return the primary keys of the just-inserted ``objs``, found by reference.

    In primary-key order, so that were a reference ever repeated from an
    older row, the row inserted last, this one, wins.
    """
    model = type(objs[0])
    found = dict(
        model._default_manager.using(connection.alias)
        .filter(reference__in=[obj.reference for obj in objs])
        .order_by("pk")
        .values_list("reference", "pk")
    )
    return [found[obj.reference] for obj in objs]
