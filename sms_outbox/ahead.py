"""Claim the next rows while the current ones are sent (PostgreSQL).

On PostgreSQL a claim is one statement, ``UPDATE ... FROM (SELECT ... FOR
UPDATE SKIP LOCKED) ... RETURNING``: one round trip, and no list of ids sent
back and forth. A drain with a writer (``sms_outbox.writer``) sends the next
claim over it once half of the current claim is sent, and reads its rows
when the current claim is done: the server claims while the drain sends.
The claim commits, as every claim does, before any of its rows is sent; if
the run stops first, its rows go back to the queue unsent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from sms_outbox import sql
from sms_outbox.claims import (
    CLAIM_FIELDS,
    Claim,
    ClaimedRow,
    candidates,
    lease_seconds,
    new_token,
)
from sms_outbox.models import Message
from sms_outbox.writer import Write, Writer

#: What ``UPDATE ... RETURNING`` gives back: the claimed row, then its order.
_RETURNED_FIELDS = (*CLAIM_FIELDS, "priority")


class ClaimAhead:
    """A claim sent over a writer, its rows not read yet."""

    def __init__(self, writer: Writer, size: int, skip: frozenset[int]) -> None:
        self.writer = writer
        self.token = new_token()
        self.started = time.monotonic()
        connection = writer.connection
        self._write: Write = writer.send(
            [
                (sql.set_local_sql(CLAIM_SETTINGS), []),
                claim_statement(connection, size, self.token, skip),
            ]
        )

    def claim(self) -> Claim:
        """Wait for the claim; return it (its lease runs from when it was sent)."""
        rows = claimed_rows(self.writer.wait(self._write).rows(1))
        return Claim(self.token, rows, self.started + lease_seconds())


#: PostgreSQL settings for a claim's transaction: walk the claim index in send
#: order and stop at ``size`` rows. Right after a burst of enqueues the
#: statistics still say the queue is tiny, and the planner would fetch and
#: sort all of it, and then find the chosen rows by scanning the table.
CLAIM_SETTINGS = {"enable_sort": "off", **sql.BY_PRIMARY_KEY}


def claim_statement(
    connection: BaseDatabaseWrapper, size: int, token: str, skip: frozenset[int]
) -> tuple[str, list[Any]]:
    """Return PostgreSQL's claim of up to ``size`` rows: one statement, one trip.

    ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) ... RETURNING``: no
    list of ids goes back and forth. ``claimed_rows()`` reads its answer.
    """
    chosen = candidates(skip).values("pk")[:size]
    select, params = chosen.query.get_compiler(connection=connection).as_sql()
    # The ORM compiles FOR UPDATE only inside a transaction, and a claim sent
    # ahead (sms_outbox.ahead) is built outside one.
    select += " FOR UPDATE SKIP LOCKED"
    quote: Callable[[Any], str] = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    column = {f.name: quote(f.column) for f in Message._meta.concrete_fields}
    returned = ", ".join(f"{table}.{column[name]}" for name in _RETURNED_FIELDS)
    pk = quote("pk")  # values("pk") names the column it selects "pk"
    statement = (
        f"UPDATE {table} SET {column['status']} = %s, {column['claimed_by']} = %s, "
        f"{column['lease_expires_at']} = STATEMENT_TIMESTAMP() "
        f"+ make_interval(secs => %s), {column['updated_at']} = STATEMENT_TIMESTAMP() "
        f"FROM ({select}) AS chosen WHERE {table}.{column['id']} = chosen.{pk} "
        f"RETURNING {returned}"
    )
    return statement, [Message.Status.SENDING, token, lease_seconds(), *params]


def claimed_rows(returned: Iterable[Sequence[Any]]) -> list[ClaimedRow]:
    """Return the rows ``claim_statement()`` returned, as values or text.

    In send order: ``RETURNING`` keeps none.
    """
    rows = [(int(v[0]), v[1], v[2], v[3], v[4], int(v[5]), int(v[6])) for v in returned]
    rows.sort(key=lambda values: (-values[-1], values[0]))
    return [ClaimedRow(*values[:-1]) for values in rows]
