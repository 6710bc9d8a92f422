"""Record what happened to sent rows, in bulk: statuses, retries and the attempt log.

Every write is fenced by the claim: it changes only rows still ``sending``
under the claim's token. A drain that lost its lease (another worker took the
rows back and may have delivered or cancelled them) changes nothing and logs
the rows it sent anyway as possible duplicates.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Value
from django.db.models.functions import Now
from django.utils import timezone

from sms_outbox.claims import ClaimedRow
from sms_outbox.models import Attempt, Message
from sms_outbox.policy import Decision, decide
from sms_outbox.transient import retry_when_locked

logger = logging.getLogger(__name__)

#: Results are written at least this often, so a killed worker re-sends at
#: most this many messages (plus the ones in flight).
FLUSH_EVERY_MESSAGES = 100
FLUSH_EVERY_SECONDS = 1.0
_LOST = "This worker had lost its lease when it recorded this result: the row was "
_LOST_SENT = _LOST + "left as it was, and the SMS may have gone out twice."
_LOST_OTHER = _LOST + "left as it was."


@dataclass(slots=True)
class AttemptResult:
    """What one try did to one claimed row, and what that means for the row.

    ``kind`` is an ``Attempt.Outcome`` value (sent, retry, failed, unknown);
    ``decision`` is the retry policy's verdict on it.
    """

    row: ClaimedRow
    kind: str
    message_id: str = ""
    error_code: str = ""
    error_text: str = ""
    duration_ms: float | None = None
    decision: Decision = field(init=False)

    def __post_init__(self) -> None:
        self.decision = decide(self.kind, self.row.attempts)


class Recorder:
    """Buffer the outcomes of one claim; write them every 100 messages or second.

    A flush that fails (the database went away) keeps its outcomes, so a later
    ``flush()`` can still write them while the claim's lease lasts.
    """

    def __init__(self, backend_path: str, token: str) -> None:
        self.backend_path = backend_path[:255]
        self.token = token
        self.pending: list[AttemptResult] = []
        self.unlogged: list[tuple[int, str, str, str, float | None]] = []
        self.last_flush = time.monotonic()

    def add(self, outcome: AttemptResult) -> bool:
        """Buffer ``outcome``; flush if due. Return True if it flushed."""
        self.pending.append(outcome)
        if (
            len(self.pending) >= FLUSH_EVERY_MESSAGES
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the buffered outcomes: one UPDATE per kind and one INSERT.

        The statements run in autocommit, not one transaction, to keep the
        drain at a few queries per hundred messages: statuses go first, so a
        crash in between loses at most those rows' attempt-log entries. Each
        stage that succeeded is dropped from the buffer, so calling again after
        a failure (the database went away) writes only what is left.
        """
        self.last_flush = time.monotonic()
        if not (self.pending or self.unlogged):
            return
        now = timezone.now()
        sent = [o for o in self.pending if o.kind == Attempt.Outcome.SENT]
        others = [o for o in self.pending if o.kind != Attempt.Outcome.SENT]
        if sent:
            self._log(sent, retry_when_locked(self._write_sent, sent, now))
            self.pending = others
        if others:
            self._log(others, retry_when_locked(self._write_others, others, now))
            self.pending = []
        if self.unlogged:
            retry_when_locked(_insert_attempts, self.unlogged, now)
            self.unlogged = []

    def _log(self, outcomes: list[AttemptResult], lost: set[int]) -> None:
        """Queue attempt-log rows for ``outcomes``; warn about ``lost`` rows."""
        if lost and outcomes[0].kind == Attempt.Outcome.SENT:
            logger.warning(
                "This outbox worker lost its lease on %d SMS before recording "
                "their results; their rows were left as the worker that took "
                "them over recorded them. The provider took them from here "
                "too, so they may have gone out twice: ids %s.",
                len(lost),
                sorted(lost),
            )
        elif lost:
            logger.info(
                "This outbox worker lost its lease on %d SMS the provider did "
                "not take; their rows were left as the worker that took them "
                "over recorded them: ids %s.",
                len(lost),
                sorted(lost),
            )
        self.unlogged += [
            (
                o.row.id,
                o.decision.logged,
                o.error_code[:32],
                (
                    _LOST_SENT
                    if o.kind == Attempt.Outcome.SENT
                    else f"{_LOST_OTHER} {o.error_text}"
                )
                if o.row.id in lost
                else o.error_text,
                o.duration_ms,
            )
            for o in outcomes
        ]

    def _write_sent(
        self, sent: list[AttemptResult], now: datetime.datetime
    ) -> set[int]:
        """Mark ``sent`` rows sent, each with its provider id; return lost ids.

        One UPDATE per 300 rows. Raw SQL: the ORM's ``Case(When(...))`` for a
        hundred ids costs more CPU than sending the hundred messages through a
        fast backend.
        """
        # Concrete fields, typed Any: Django's typing cannot tell that
        # get_field() returns a Field here, nor that its column is set.
        field: Callable[[str], Any] = Message._meta.get_field
        quote = connection.ops.quote_name
        stamp = field("sent_at").get_db_prep_save(now, connection)
        lost: set[int] = set()
        for start in range(0, len(sent), 300):
            chunk = sent[start : start + 300]
            with_id = [o for o in chunk if o.message_id]
            case = "''"
            params: list[Any] = []
            if with_id:
                case = (
                    f"CASE {quote('id')} "
                    + " ".join(["WHEN %s THEN %s"] * len(with_id))
                    + " ELSE '' END"
                )
                for o in with_id:
                    params += [o.row.id, o.message_id[:64]]
            assignments = {
                "status": "%s",
                "provider_message_id": case,
                "attempts": f"{quote('attempts')} + 1",
                "last_error": "''",
                "backend": "%s",
                "sent_at": "%s",
                "finished_at": "%s",
                "claimed_by": "''",
                "lease_expires_at": "NULL",
                "updated_at": "%s",
            }
            sql_set = ", ".join(
                f"{quote(field(name).column)} = {value}"
                for name, value in assignments.items()
            )
            params = [Message.Status.SENT.value, *params, self.backend_path]
            params += [stamp, stamp, stamp]
            params += [o.row.id for o in chunk]
            params += [self.token, Message.Status.SENDING.value]
            placeholders = ", ".join(["%s"] * len(chunk))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {quote(Message._meta.db_table)} SET {sql_set} "
                    f"WHERE {quote('id')} IN ({placeholders}) "
                    f"AND {quote(field('claimed_by').column)} = %s "
                    f"AND {quote(field('status').column)} = %s",
                    params,
                )
                written = cursor.rowcount
            if written != len(chunk):
                lost |= self._not_written(chunk, now)
        return lost

    def _write_others(
        self, others: list[AttemptResult], now: datetime.datetime
    ) -> set[int]:
        """Put retried rows back with their delay, fail the rest; return lost ids."""
        rows = []
        for o in others:
            failed = o.decision.final
            delay = datetime.timedelta(seconds=o.decision.delay or 0)
            rows.append(
                Message(
                    pk=o.row.id,
                    status=o.decision.status,
                    attempts=o.row.attempts + 1,
                    last_error=o.error_text,
                    backend=self.backend_path,
                    # The database's clock decides when the row is due again.
                    next_attempt_at=Now() + Value(delay),
                    finished_at=now if failed else None,
                    claimed_by="",
                    lease_expires_at=None,
                    updated_at=now,
                )
            )
        written = Message.objects.filter(
            claimed_by=self.token, status=Message.Status.SENDING
        ).bulk_update(
            rows,
            [
                "status",
                "attempts",
                "last_error",
                "backend",
                "next_attempt_at",
                "finished_at",
                "claimed_by",
                "lease_expires_at",
                "updated_at",
            ],
        )
        if written == len(others):
            return set()
        return self._not_written(others, now)

    def _not_written(
        self, outcomes: list[AttemptResult], now: datetime.datetime
    ) -> set[int]:
        """Return the ids of ``outcomes`` whose rows this flush did not change.

        Only called when an UPDATE changed fewer rows than it named: the rows
        it changed carry this flush's ``updated_at``.
        """
        ids = [o.row.id for o in outcomes]
        written = Message.objects.filter(pk__in=ids, updated_at=now)
        return set(ids) - set(written.values_list("pk", flat=True))


_ATTEMPT_COLUMNS = (
    "message_id",
    "outcome",
    "error_code",
    "error_text",
    "duration_ms",
    "created_at",
)


def _insert_attempts(
    attempts: list[tuple[int, str, str, str, float | None]], now: datetime.datetime
) -> None:
    """INSERT attempt-log rows made at ``now`` in one statement per parameter limit.

    What ``bulk_create()`` does, without the transaction it opens around every
    call (BEGIN and COMMIT would double the drain's queries per flush) and
    without building model instances and preparing every value through its
    field: the values are ints, strings and floats that every database
    driver takes as they are, and the one datetime is prepared once.
    """
    # Concrete fields, typed Any as in _write_sent().
    fields: list[Any] = [Attempt._meta.get_field(name) for name in _ATTEMPT_COLUMNS]
    stamp = fields[-1].get_db_prep_save(now, connection)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    limit = connection.features.max_query_params or 65535
    per_statement = max(1, limit // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(attempts), per_statement):
            chunk = attempts[start : start + per_statement]
            params = [value for attempt in chunk for value in (*attempt, stamp)]
            cursor.execute(
                f"INSERT INTO {quote(Attempt._meta.db_table)} ({columns}) VALUES "
                + ", ".join([row_sql] * len(chunk)),
                params,
            )
