"""The outbox's hand-written SQL, on the database the router gives the outbox.

Sites often route a queue to a database of its own, so nothing here uses
the default ``connection``: every statement runs on
``connections[router.db_for_write(Message)]``. Two statements are written by
hand because the ORM's versions cost more than the drain and the request
path can afford: a multi-row INSERT (``bulk_create()`` opens a transaction
and cannot make the INSERT conditional) and the UPDATE that marks sent rows
with their provider ids (``Case(When(...))`` for a hundred ids costs more
CPU than sending the hundred messages). On PostgreSQL both pass their values
as one array per column (``unnest``), so the statement's text is the same
for every batch and the server can reuse its plan; each array goes as one
text parameter (``literal()``), which psycopg does not have to adapt element
by element. Where the site lets psycopg prepare statements (PostgreSQL's
``OPTIONS["prepare_threshold"]``), these statements are prepared too, even
where Django's own queries bind on the client (``statement_cursor()``). A
lock conflict the server asks the client to retry is retried here too
(``retry_when_locked()``).
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from django.db import OperationalError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateField, Field, Model

if TYPE_CHECKING:
    from sms_outbox.models import Message

#: The most SELECTs SQLite joins in one compound statement (its default
#: SQLITE_MAX_COMPOUND_SELECT).
_COMPOUND_SELECTS = 500
#: Rows of one CASE UPDATE outside PostgreSQL.
_CASE_ROWS = 300


def outbox_alias() -> str:
    """Return the alias of the database the outbox's rows are written to."""
    from sms_outbox.models import Message

    return router.db_for_write(Message)


def outbox_connection() -> BaseDatabaseWrapper:
    """Return the connection to the outbox's database (see ``outbox_alias()``)."""
    return connections[outbox_alias()]


def statement_cursor(connection: BaseDatabaseWrapper) -> Any:
    """Return a cursor for one of this module's statements, prepared if allowed.

    Their text depends only on their shape (the row count; on PostgreSQL, for
    most, not even that), so on a connection that lives on, a prepared
    statement is parsed and planned once instead of on every call: for the
    enqueue's ``INSERT`` with its opt-out check, that is most of what the
    server does (docs/performance.md). Prepared statements live in the
    database session, which a pooler in transaction mode (PgBouncer before
    1.21 or with ``max_prepared_statements = 0``) shares between clients, so
    Django leaves them off by default. Where the site turned them on, with
    the connection's ``OPTIONS["prepare_threshold"]`` (psycopg 3), these
    statements bind their values on the server, as psycopg must to prepare
    them, and psycopg prepares each once it has run that many times, even if
    Django's own queries bind on the client (``server_side_binding`` off).
    Elsewhere, Django's own cursor.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if getattr(raw, "prepare_threshold", None) is None:
        return connection.cursor()
    from django.db.backends.postgresql import base

    # Any: django-stubs type the class without psycopg's Cursor beneath it.
    binding_on_server: Any = base.ServerBindingCursor
    with connection.wrap_database_errors:
        cursor = binding_on_server(raw)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


class Unless(NamedTuple):
    """A condition that stops a whole INSERT: ``NOT EXISTS (sql)``, with params.

    ``sql`` is a complete ``SELECT``; its text must depend only on the
    number of its params, so that statements built on it can be cached.
    """

    sql: str
    params: list[Any]


def insert(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[object]],
    returning: bool = False,
    unless: Unless | None = None,
) -> list[object] | int:
    """INSERT ``rows`` (values already prepared for ``connection``) into ``model``.

    With ``unless``, the rows are inserted only if its ``SELECT`` finds
    nothing, decided in the same statement. Return the new primary keys in
    row order when ``returning`` (the database must support ``INSERT ...
    RETURNING``), else the number of rows inserted. Runs in the caller's
    transaction, or in autocommit one statement at a time: a caller that
    needs all or nothing across statements opens the transaction.
    """
    pks: list[object] = []
    count = 0
    size = _rows_per_statement(connection, len(fields), unless)
    with statement_cursor(connection) as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            text = _insert_text(
                connection.alias,
                connection.vendor,
                model._meta.label,
                tuple(field.name for field in fields),
                len(chunk),
                returning,
                None if unless is None else unless.sql,
            )
            cursor.execute(
                text,
                [
                    *_row_params(connection, fields, chunk),
                    *(unless.params if unless else []),
                ],
            )
            if returning:
                pks += [pk for (pk,) in cursor.fetchall()]
            else:
                count += cursor.rowcount
    return pks if returning else count


def insert_statements(
    connection: BaseDatabaseWrapper,
    fields: int,
    rows: int,
    unless: Unless | None = None,
) -> int:
    """Return how many statements ``insert()`` runs for ``rows`` of ``fields``."""
    return -(-rows // _rows_per_statement(connection, fields, unless))


def _rows_per_statement(
    connection: BaseDatabaseWrapper, fields: int, unless: Unless | None
) -> int:
    if connection.vendor == "postgresql":
        return 1 << 30  # one array per column, whatever the row count
    limit = connection.features.max_query_params or 65535
    limit -= len(unless.params) if unless else 0
    rows = max(1, limit // fields)
    # Under a condition the rows are a UNION ALL of SELECTs: SQLite takes at
    # most 500 of them in one statement.
    return min(rows, _COMPOUND_SELECTS) if unless else rows


def _row_params(
    connection: BaseDatabaseWrapper,
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[object]],
) -> list[Any]:
    if connection.vendor == "postgresql" and len(rows) > 1:
        return [literal(column) for column in zip(*rows, strict=True)]
    return [value for row in rows for value in row]


@functools.lru_cache(maxsize=256)
def _insert_text(
    alias: str,
    vendor: str,
    label: str,
    names: tuple[str, ...],
    rows: int,
    returning: bool,
    unless: str | None,
) -> str:
    """Return the INSERT of fields ``names`` for ``rows`` rows of ``label``, once.

    Several rows come as one array per column on PostgreSQL (``unnest``),
    as ``VALUES`` elsewhere, or, under a condition, as a ``UNION ALL`` of
    ``SELECT``s that the condition filters as a whole. One row on PostgreSQL
    (a ``send_sms()``) goes as its values, each cast to its column's type:
    parsing two dozen one-element arrays costs the server more than the rest
    of the statement (docs/performance.md).
    """
    from django.apps import apps

    connection = connections[alias]
    model = apps.get_model(label)
    fields: list[Any] = [model._meta.get_field(name) for name in names]
    # Takes Any: a concrete field's column is set, though typed Optional.
    quote: Callable[[Any], str] = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ("
    head += ", ".join(quote(field.column) for field in fields) + ") "
    where = f" WHERE NOT EXISTS ({unless})" if unless is not None else ""
    if vendor == "postgresql" and rows > 1:
        casts = ", ".join(f"%s::{array_type(f, connection)}" for f in fields)
        body = f"SELECT * FROM unnest({casts}){where}"
    elif vendor == "postgresql":
        # CAST(), not ::, which binds tighter than a literal's minus sign.
        casts = ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in fields)
        body = f"SELECT {casts}{where}"
    elif unless is None:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        body = "VALUES " + ", ".join([row] * rows)
    else:
        first = ", ".join(f"%s AS c{i}" for i in range(len(fields)))
        other = ", ".join(["%s"] * len(fields))
        selects = [f"SELECT {first}"] + [f"SELECT {other}"] * (rows - 1)
        body = f"SELECT * FROM ({' UNION ALL '.join(selects)}) AS v{where}"
    tail = f" RETURNING {quote(model._meta.pk.column)}" if returning else ""
    return head + body + tail


def insert_rows(objs: Sequence[Message], unless: Unless | None = None) -> bool:
    """INSERT ``objs`` (outbox rows, each with a unique ``reference``); set their pks.

    With ``unless``, store nothing when its ``SELECT`` finds a row (the
    request path's opt-out check, decided by the INSERT itself) and return
    False; else return True. Like ``bulk_create()``, but ``bulk_create()``
    opens a transaction even around a single statement, which in autocommit
    is a BEGIN and a COMMIT around every ``send_sms()``. Here one statement
    runs on its own (a single INSERT is atomic) and joins the caller's
    transaction if there is one; only when the database's parameter limit
    splits the rows, or the new primary keys must be read back, do the
    statements run in a transaction, so a message is stored whole or not at
    all. The rows go to the outbox's database (``router.db_for_write``).

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
        return True
    model = type(objs[0])
    connection = outbox_connection()
    fields, ways = _insert_fields(model)
    returning = connection.features.can_return_rows_from_bulk_insert
    if not returning and len({obj.reference for obj in objs} - {""}) != len(objs):
        raise ValueError(
            "Outbox rows need a unique, non-empty reference each: on a database "
            "without INSERT ... RETURNING they are found again by it."
        )
    rows = [_prepared_row(obj, fields, ways, connection) for obj in objs]
    several = insert_statements(connection, len(fields), len(rows), unless) > 1
    with transaction.atomic(using=connection.alias) if several else nullcontext():
        stored = insert(connection, model, fields, rows, returning, unless)
        if returning:
            assert isinstance(stored, list)
            if len(stored) != len(objs):
                if several and stored:  # a later statement's condition held
                    transaction.set_rollback(True, using=connection.alias)
                return False
            pks = stored
        else:
            if stored != len(objs):
                if several and stored:
                    transaction.set_rollback(True, using=connection.alias)
                return False
            pks = _read_back_pks(connection, objs)
    for obj, pk in zip(objs, pks, strict=True):
        setattr(obj, model._meta.pk.attname, pk)
    return True


#: How ``_prepared_row()`` may take a field's value: only through Django's
#: preparation, as is when None, or as is when None or a ``str``.
_PREPARE, _NONE_AS_IS, _TEXT_AS_IS = 0, 1, 2


@functools.cache
def _insert_fields(model: type[Model]) -> tuple[list[Field[Any, Any]], list[int]]:
    """Return the fields an INSERT of ``model`` writes, and how to take each value.

    A field that leaves its value to ``Field.get_db_prep_save()`` stores
    ``None`` as it is, and a ``CharField`` or ``TextField`` a ``str`` too, so
    those values skip Django's per-field preparation: on the request path,
    two dozen ``get_db_prep_save()`` calls cost more than the rest of
    building the row (docs/performance.md). Fields that set their own value
    on save (``auto_now``, ``auto_now_add``) always go through it.
    """
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    ways = []
    for field in fields:
        as_is = (
            type(field).get_db_prep_save is Field.get_db_prep_save
            and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False)
            and (
                type(field).pre_save is Field.pre_save
                or isinstance(field, DateField)  # its pre_save() is auto_now*
            )
        )
        if not as_is:
            ways.append(_PREPARE)
        elif field.get_internal_type() in ("CharField", "TextField"):
            ways.append(_TEXT_AS_IS)
        else:
            ways.append(_NONE_AS_IS)
    return fields, ways


def _prepared_row(
    obj: Model,
    fields: list[Field[Any, Any]],
    ways: list[int],
    connection: BaseDatabaseWrapper,
) -> list[Any]:
    """Return ``obj``'s values for an INSERT, prepared for ``connection``."""
    values = []
    for field, way in zip(fields, ways, strict=True):
        if way == _PREPARE:
            value = field.pre_save(obj, True)
        else:
            value = getattr(obj, field.attname)
            if value is None or (way == _TEXT_AS_IS and isinstance(value, str)):
                values.append(value)
                continue
        values.append(field.get_db_prep_save(value, connection))
    return values


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


def mark_sent(
    connection: BaseDatabaseWrapper,
    sent: Sequence[tuple[int, str]],
    token: str,
    backend: str,
    now: datetime.datetime,
    provider: str = "",
) -> int:
    """Mark rows claim ``token`` holds as sent; return how many it changed.

    ``sent`` holds (row id, provider message id or "") pairs; ``backend`` and
    ``provider`` (the ``SMS_PROVIDERS`` alias, or "") name what sent them. The write is
    fenced by the claim: a row no longer ``sending`` under ``token`` (another
    worker took it back after the lease ran out) is left as it is.
    """
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
        f"{column['provider']} = %s, "
        f"{column['sent_at']} = %s, {column['finished_at']} = %s, "
        f"{column['claimed_by']} = '', {column['lease_expires_at']} = NULL, "
        f"{column['updated_at']} = %s "
    )
    params = [backend[:255], provider[:64], stamp, stamp, stamp]
    status = f"{table}.{column['status']}"
    if connection.vendor == "postgresql":
        # An expression, so no index on status can drive the UPDATE: the rows
        # are found by primary key (see ``drain.claims.held()``).
        status = f"({status} || '')"
    fence = f"{table}.{column['claimed_by']} = %s AND {status} = %s"
    fence_params = [token, Message.Status.SENDING.value]
    sent_status = Message.Status.SENT.value
    written = 0
    with statement_cursor(connection) as cursor:
        for sql, (before, after) in _sent_statements(connection, head, fence, sent):
            cursor.execute(sql, [sent_status, *before, *params, *after, *fence_params])
            written += cursor.rowcount
    return written


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
        # is in no statistics) walks the whole primary key and compares each
        # claimed row with every element (docs/performance.md).
        ids, provider_ids = zip(*((i, p[:64]) for i, p in sent), strict=True)
        id_type = array_type(meta.pk, connection)
        pid_type = array_type(meta.get_field("provider_message_id"), connection)
        sql = (
            head.format(ids=f"v.provider_ids[array_position(v.ids, {pk})]")
            + f"FROM (SELECT %s::{id_type} AS ids, %s::{pid_type} AS provider_ids) "
            + f"AS v WHERE {pk} = ANY(v.ids) AND {fence}"
        )
        yield sql, ([], [literal(ids), literal(provider_ids)])
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


def literal(values: Sequence[object]) -> str:
    """Return ``values`` as a PostgreSQL array literal, for one text parameter.

    Numbers go as written, None as NULL; everything else (strings, datetimes,
    UUIDs) is double-quoted with backslash escapes, so any text survives and
    the column's type parses it, as it would the driver's own literal.
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:
        return "{" + ",".join(map(_quoted, values)) + "}"  # type: ignore[arg-type]
    if kinds == {float}:
        return "{" + ",".join(map(repr, values)) + "}"
    if len(kinds) == 1 and values and all(v == values[0] for v in values):
        # One value for every row (a batch's timestamp): written once.
        return "{" + ",".join([_element(values[0])] * len(values)) + "}"
    return "{" + ",".join(map(_element, values)) + "}"


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):  # Django's backend passes int subclasses
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("Binary values cannot go in an array literal.")
    return _quoted(str(value))


def array_type(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """Return the PostgreSQL array type of ``field``'s column (``text[]``...)."""
    return f"{field.cast_db_type(connection)}[]"


P = ParamSpec("P")
T = TypeVar("T")

# SQLite without an IMMEDIATE transaction mode can refuse a write at once with
# "database is locked" (two readers both upgrading to a writer); MySQL and
# MariaDB roll back a deadlock victim (1213) or give up a lock wait (1205).
# In each case the whole call can simply run again.
_MYSQL_RETRY_CODES = {1205, 1213}
_TRIES = 50


def is_lock_conflict(err: BaseException) -> bool:
    """Return True when ``err`` is a lock conflict that running again can cure."""
    if not isinstance(err, OperationalError):
        return False
    if err.args and err.args[0] in _MYSQL_RETRY_CODES:
        return True
    return "database is locked" in str(err) or "database table is locked" in str(err)


def retry_when_locked(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function(*args, **kwargs)``; on a lock conflict, wait and call again.

    ``function`` must be safe to run again: one statement in autocommit, or a
    whole transaction (the server rolled the failed one back).
    """
    for attempt in range(_TRIES):
        try:
            return function(*args, **kwargs)
        except OperationalError as err:
            if not is_lock_conflict(err) or attempt == _TRIES - 1:
                raise
            time.sleep(0.01 + 0.01 * attempt)
    raise AssertionError("unreachable")


class Counter(NamedTuple):
    """A send guard counter as the upsert left it (``GuardCounter``'s columns)."""

    hits: int
    spend_micros: int
    converted: int
    blocked_until: int


def add_to_counters(
    connection: BaseDatabaseWrapper, deltas: Sequence[tuple[str, int, int, int]]
) -> dict[str, Counter]:
    """Add ``(key, window_start, hits, spend_micros)`` to the guard counters.

    One statement, an atomic upsert: a key without a row gets one; a row
    whose window is older than the given one starts again from the given
    counts (its window ended); else the counts are added. Return each key's
    counter as it stands after the addition, which this transaction now
    holds locked until it ends, so a concurrent enqueue waits and then sees
    it: the counts are exact under concurrency. ``deltas`` hold each key
    once, sorted by key, so concurrent upserts lock rows in the same order
    and never deadlock each other. MySQL, which has no ``INSERT ...
    RETURNING``, reads the rows back in a second statement (its own locks
    make that exact too).
    """
    from sms_outbox.models import GuardCounter

    text = _counter_text(
        connection.alias,
        connection.vendor,
        len(deltas),
        bool(getattr(connection, "mysql_is_mariadb", True)),
    )
    if connection.vendor == "postgresql":
        params: list[Any] = [
            literal(list(column)) for column in zip(*deltas, strict=True)
        ]
    else:
        params = [value for delta in deltas for value in delta]
    with statement_cursor(connection) as cursor:
        cursor.execute(text, params)
        if connection.vendor == "mysql" and not getattr(
            connection, "mysql_is_mariadb", False
        ):
            quote: Callable[[Any], str] = connection.ops.quote_name
            marks = ", ".join(["%s"] * len(deltas))
            cursor.execute(
                f"SELECT {quote('key')}, {quote('hits')}, {quote('spend_micros')}, "
                f"{quote('converted')}, {quote('blocked_until')} FROM "
                f"{quote(GuardCounter._meta.db_table)} WHERE {quote('key')} "
                f"IN ({marks})",
                [delta[0] for delta in deltas],
            )
        return {
            key: Counter(int(hits), int(spend), int(converted), int(until))
            for key, hits, spend, converted, until in cursor.fetchall()
        }


@functools.lru_cache(maxsize=64)
def _counter_text(alias: str, vendor: str, rows: int, mariadb: bool) -> str:
    """Return ``add_to_counters()``'s upsert for ``rows`` keys, once per shape."""
    from sms_outbox.models import GuardCounter

    quote: Callable[[Any], str] = connections[alias].ops.quote_name
    table = quote(GuardCounter._meta.db_table)
    key, start, hits, spend = map(
        quote, ("key", "window_start", "hits", "spend_micros")
    )
    converted, until, reason = map(
        quote, ("converted", "blocked_until", "block_reason")
    )
    head = (
        f"INSERT INTO {table} ({key}, {start}, {hits}, {spend}, {converted}, "
        f"{until}, {reason}) "
    )
    returning = f" RETURNING {key}, {hits}, {spend}, {converted}, {until}"
    if vendor == "postgresql":
        new = "EXCLUDED"
        body = (
            f"SELECT k, w, h, s, 0, 0, '' FROM unnest(%s::varchar(100)[], "
            "%s::bigint[], %s::bigint[], %s::bigint[]) AS v(k, w, h, s) "
            f"ON CONFLICT ({key}) DO UPDATE SET "
        )
        old = f"{table}."
        newer = f"{new}.{start} > {old}{start}"
        sets = [
            f"{hits} = CASE WHEN {newer} THEN {new}.{hits} "
            f"ELSE {old}{hits} + {new}.{hits} END",
            f"{spend} = CASE WHEN {newer} THEN {new}.{spend} "
            f"ELSE {old}{spend} + {new}.{spend} END",
            f"{converted} = CASE WHEN {newer} THEN 0 ELSE {old}{converted} END",
            f"{start} = GREATEST({old}{start}, {new}.{start})",
        ]
        return head + body + ", ".join(sets) + returning
    values = "VALUES " + ", ".join(["(%s, %s, %s, %s, 0, 0, '')"] * rows)
    if vendor == "mysql":
        # Assignments run left to right and see the values already set:
        # the window moves last.
        newer = f"VALUES({start}) > {start}"
        sets = [
            f"{hits} = IF({newer}, VALUES({hits}), {hits} + VALUES({hits}))",
            f"{spend} = IF({newer}, VALUES({spend}), {spend} + VALUES({spend}))",
            f"{converted} = IF({newer}, 0, {converted})",
            f"{start} = GREATEST({start}, VALUES({start}))",
        ]
        text = head + values + " ON DUPLICATE KEY UPDATE " + ", ".join(sets)
        return text + returning if mariadb else text
    newer = f"excluded.{start} > {start}"
    sets = [
        f"{hits} = CASE WHEN {newer} THEN excluded.{hits} "
        f"ELSE {hits} + excluded.{hits} END",
        f"{spend} = CASE WHEN {newer} THEN excluded.{spend} "
        f"ELSE {spend} + excluded.{spend} END",
        f"{converted} = CASE WHEN {newer} THEN 0 ELSE {converted} END",
        f"{start} = max({start}, excluded.{start})",
    ]
    text = head + values + f" ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(sets)
    return text + returning
