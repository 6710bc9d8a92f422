"""Statements PostgreSQL runs while the drain sends the next messages.

A drain on PostgreSQL spent about as long waiting for the server (to mark a
hundred rows sent, to claim the next five hundred) as it spent sending. With
psycopg 3, each drain thread therefore keeps a connection of its own in
pipeline mode, and sends over it, without waiting for the answer:

- each full batch of sent results: the transaction's settings, the UPDATE
  and the attempt-log INSERT, which PostgreSQL runs as one transaction;
- the next claim, once half of the current one is sent, right after a
  batch of results, so that the server has claimed by the next batch.

The server works on one core while the drain sends on the other. A batch's
answer (how many rows the UPDATE changed) is read before the next batch goes
out, so at most one batch of results is ever unanswered, and before the
claim is settled, so a lost lease is still found and logged. A batch goes
out only when everything sent before it is answered (the drain waits for
that, if it must): a server that finds its client gone ends the connection
after the transaction it is running, so nothing may queue a batch of
results behind a claim. A claim's rows
are read before any of them is sent, so a claim still commits before its
first provider call. A worker killed after sending a batch does not lose it:
PostgreSQL runs a transaction it has received to its end whether or not the
client is left to read the answer.

Inside a transaction (a ``TestCase``, or a caller's ``atomic()`` block) the
drain's rows are not committed yet, and a second connection would wait on
their locks: there, on other databases or drivers, and with
``SMS_OUTBOX_PIPELINE = False``, everything runs on the drain's own
connection and is waited for.
"""

from __future__ import annotations

import selectors
from collections import deque
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from sms.conf import get_setting

try:
    import psycopg
    from psycopg import pq
except ImportError:  # pragma: no cover - psycopg2 or no PostgreSQL driver
    psycopg = None  # type: ignore[assignment]


class Write:
    """One transaction sent through a ``Writer``; its answers once read."""

    def __init__(self) -> None:
        #: One result per statement, in order (``pq.PGresult``).
        self.results: list[Any] = []
        self.error: DatabaseError | None = None
        self.done = False

    def counts(self) -> list[int]:
        """Return the rows each statement changed or returned."""
        return [result.command_tuples or 0 for result in self.results]

    def rows(self, statement: int) -> list[list[str | None]]:
        """Return the rows statement number ``statement`` returned, as text."""
        result = self.results[statement]
        value, columns = result.get_value, range(result.nfields)
        return [
            [None if (v := value(row, c)) is None else v.decode() for c in columns]
            for row in range(result.ntuples)
        ]


class Writer:
    """A drain thread's own connection, for statements it need not wait for."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        #: The drain's Django connection: its settings, role and time zone.
        self.connection = connection
        self._raw: Any = None
        self._queue: deque[Write] = deque()
        self._answers: list[Any] = []  # results of the statement being read

    @classmethod
    def for_connection(cls, connection: BaseDatabaseWrapper) -> Writer | None:
        """Return a writer for ``connection``'s database, or None where it can't."""
        # The driver module: ``Database`` is set by each backend, untyped.
        driver = getattr(getattr(connection, "Database", None), "__name__", "")
        if (
            driver != "psycopg"
            or connection.in_atomic_block
            or not get_setting("SMS_OUTBOX_PIPELINE")
            or not psycopg.Pipeline.is_supported()  # libpq older than 14
        ):
            return None
        return cls(connection)

    def send(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> Write:
        """Send ``statements`` as one transaction; return it, unanswered."""
        with self.connection.wrap_database_errors:
            raw = self._connect()
            cursor = psycopg.ClientCursor(raw)
            texts = [cursor.mogrify(sql, params).encode() for sql, params in statements]
            pgconn = raw.pgconn
            write = Write()
            try:
                for text in texts:
                    pgconn.send_query_params(text, None)
                pgconn.pipeline_sync()
                self._queue.append(write)
                while pgconn.flush():
                    self._select(selectors.EVENT_WRITE | selectors.EVENT_READ)
                    pgconn.consume_input()
            except psycopg.Error as err:
                self._lost(err)
                raise
            return write

    def wait(self, write: Write) -> Write:
        """Read answers until ``write``'s are in; return it.

        Raise ``DatabaseError`` if it failed: then it changed nothing, unless
        the connection broke after the server committed it (as a commit whose
        answer is lost can, on any connection).
        """
        try:
            while not write.done:
                self._read()
                if not write.done:
                    self._select(selectors.EVENT_READ)
        except psycopg.Error as err:
            self._lost(err)
        if write.error is not None:
            raise write.error
        return write

    def wait_idle(self) -> None:
        """Wait until everything sent so far is answered.

        Raise only for the last write's failure: the others' are raised to
        whoever waits for them.
        """
        while self._queue:
            self.wait(self._queue[-1])

    def close(self) -> None:
        """Close the connection; a transaction it sent still runs to its end."""
        raw, self._raw = self._raw, None
        self._queue.clear()
        self._answers = []
        if raw is not None:
            raw.close()

    def _read(self) -> None:
        """Take every answer that has arrived; mark the writes they finish."""
        pgconn = self._raw.pgconn
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                if not self._answers:
                    return  # nothing more has arrived
                self._statement_done(self._answers[-1])
                self._answers = []
            elif result.status == pq.ExecStatus.PIPELINE_SYNC:
                self._queue.popleft().done = True
            else:
                self._answers.append(result)

    def _statement_done(self, result: Any) -> None:
        write = self._queue[0]
        write.results.append(result)
        if result.status == pq.ExecStatus.FATAL_ERROR and write.error is None:
            message = result.error_message.decode(errors="replace").strip()
            write.error = DatabaseError(message)

    def _lost(self, err: Exception) -> None:
        """The connection broke: fail every write still unanswered."""
        for write in self._queue:
            write.error = OperationalError(str(err))
            write.done = True
        self.close()

    def _connect(self) -> Any:
        if self._raw is None:
            params = self.connection.get_connection_params()
            raw = psycopg.connect(**params, autocommit=True)
            configure = getattr(self.connection, "_configure_connection", None)
            if configure is not None:  # time zone and OPTIONS["assume_role"]
                configure(raw)
            raw.pgconn.enter_pipeline_mode()
            self._raw = raw
        return self._raw

    def _select(self, events: int) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._raw.pgconn.socket, events)
            selector.select()
