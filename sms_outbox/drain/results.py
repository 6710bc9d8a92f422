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
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper as Connection
from django.db.models import Value
from django.db.models.functions import Now
from django.utils import timezone

from sms.providers import backend_path
from sms_outbox import sql
from sms_outbox.drain.claims import ClaimedRow, held
from sms_outbox.drain.policy import Decision, decide
from sms_outbox.models import Attempt, Message
from sms_outbox.sql import retry_when_locked

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
    ``decision`` is the retry policy's verdict on it. ``error`` is what the
    try raised or recorded, ``answer`` the backend's result for the row, and
    ``provider`` the ``SMS_PROVIDERS`` alias it went through ("" for a dotted
    path): the drain and routing read them after the call; none is written.
    """

    row: ClaimedRow
    kind: str
    message_id: str = ""
    error_code: str = ""
    error_text: str = ""
    duration_ms: float | None = None
    error: BaseException | None = None
    answer: Any = None
    provider: str = ""
    #: Earlier tries of this row in the same pass, through providers that did
    #: not take it (``drain.failover``): logged, and nothing else.
    hops: list[AttemptResult] = field(default_factory=list)
    decision: Decision = field(init=False)

    def __post_init__(self) -> None:
        self.decision = decide(self.kind, self.row.attempts, self.row)


class Recorder:
    """Buffer the outcomes of one claim; write them every 100 messages or second.

    A flush that fails (the database went away) writes nothing and keeps its
    outcomes, so a later ``flush()`` can still write them while the claim's
    lease lasts.
    """

    def __init__(self, backend_path: str, token: str) -> None:
        self.backend_path = backend_path[:255]
        self.token = token
        self.pending: list[AttemptResult] = []
        self.last_flush = time.monotonic()

    def add(self, outcome: AttemptResult) -> bool:
        """Buffer ``outcome``; flush if due. Return True if it flushed."""
        return self.add_all([outcome])

    def add_all(self, outcomes: list[AttemptResult], flush: bool = False) -> bool:
        """Buffer every one of ``outcomes``, then flush if due or ``flush``.

        Return True if it flushed. All are buffered before the write, so a
        write that fails (the database went away) keeps every one of them.
        """
        self.pending.extend(outcomes)
        if not self.pending:
            return False
        if (
            flush
            or len(self.pending) >= FLUSH_EVERY_MESSAGES
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the buffered outcomes in one transaction, or keep them all.

        One commit per flush: the sent rows in one UPDATE, the retried and
        failed ones in another, their attempt-log entries in one INSERT. A
        flush that fails (the database went away) wrote nothing and keeps its
        outcomes, so calling again writes them whole, once. The commit waits
        for the server to make it durable: a result the drain believes
        written survives a database crash, so its SMS is never sent again.
        """
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        lost = retry_when_locked(self._write, timezone.now())
        _warn_lost(self.pending, lost)
        self.pending = []

    def _write(self, now: datetime.datetime) -> set[int]:
        """Run the flush's statements in one transaction; return the lost ids."""
        connection = sql.outbox_connection()
        sent = [o for o in self.pending if o.kind == Attempt.Outcome.SENT]
        others = [o for o in self.pending if o.kind != Attempt.Outcome.SENT]
        lost: set[int] = set()
        with transaction.atomic(using=connection.alias):
            if sent:
                lost |= self._write_sent(connection, sent, now)
            if others:
                lost |= self._write_others(connection, others, now)
            _insert_attempts(
                connection,
                [
                    _log_entry(entry, o.row.id in lost, hop=entry is not o)
                    for o in self.pending
                    for entry in (*o.hops, o)
                ],
                now,
            )
        return lost

    def _write_sent(
        self, connection: Connection, sent: list[AttemptResult], now: datetime.datetime
    ) -> set[int]:
        """Mark ``sent`` rows sent, each with its provider id; return lost ids.

        One UPDATE per provider alias the rows went through (one, usually).
        """
        written = 0
        by_provider: dict[str, list[AttemptResult]] = {}
        for o in sent:
            by_provider.setdefault(o.provider, []).append(o)
        for provider, results in by_provider.items():
            pairs = [(o.row.id, o.message_id) for o in results]
            written += sql.mark_sent(
                connection, pairs, self.token, self._path(provider), now, provider
            )
        if written == len(sent):
            return set()
        return _not_written(connection, sent, now)

    def _path(self, provider: str) -> str:
        """Return the backend path recorded for a try through ``provider``."""
        return backend_path(provider)[:255] if provider else self.backend_path

    def _write_others(
        self,
        connection: Connection,
        others: list[AttemptResult],
        now: datetime.datetime,
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
                    backend=self._path(o.provider),
                    provider=o.provider,
                    # The database's clock decides when the row is due again.
                    next_attempt_at=Now() + Value(delay),
                    finished_at=now if failed else None,
                    claimed_by="",
                    lease_expires_at=None,
                    updated_at=now,
                )
            )
        mine = held(self.token, [o.row.id for o in others])
        written = mine.bulk_update(rows, _OTHERS_FIELDS)
        if written == len(others):
            return set()
        return _not_written(connection, others, now)


def _not_written(
    connection: Connection, outcomes: list[AttemptResult], now: datetime.datetime
) -> set[int]:
    """Return the ids of ``outcomes`` whose rows this flush did not change.

    Only called when an UPDATE changed fewer rows than it named: the rows it
    changed carry this flush's ``updated_at``.
    """
    ids = [o.row.id for o in outcomes]
    written = Message.objects.using(connection.alias).filter(pk__in=ids, updated_at=now)
    return set(ids) - set(written.values_list("pk", flat=True))


def _warn_lost(outcomes: list[AttemptResult], lost: set[int]) -> None:
    """Log the rows a flush found taken over by another worker, sent or not."""
    sent = sorted(
        o.row.id
        for o in outcomes
        if o.row.id in lost and o.kind == Attempt.Outcome.SENT
    )
    others = sorted(lost - set(sent))
    if sent:
        logger.warning(
            "This outbox worker lost its lease on %d SMS before recording "
            "their results; their rows were left as the worker that took "
            "them over recorded them. The provider took them from here "
            "too, so they may have gone out twice: ids %s.",
            len(sent),
            sent,
        )
    if others:
        logger.info(
            "This outbox worker lost its lease on %d SMS the provider did "
            "not take; their rows were left as the worker that took them "
            "over recorded them: ids %s.",
            len(others),
            others,
        )


def _log_entry(o: AttemptResult, lost: bool, hop: bool = False) -> tuple[Any, ...]:
    """Return the attempt-log values of ``o`` (``lost``: its row was taken over).

    A ``hop`` (a try whose provider did not take the SMS, after which the
    row moved to the next provider of its route) is logged as what it was,
    with no effect on the row.
    """
    text = o.error_text
    if hop:
        text = f"Failed over to the next provider of the route. {text}"
        return (o.row.id, o.kind, o.error_code[:32], text, o.duration_ms, o.provider)
    if lost:
        sent = o.kind == Attempt.Outcome.SENT
        text = _LOST_SENT if sent else f"{_LOST_OTHER} {o.error_text}"
    return (
        o.row.id,
        o.decision.logged,
        o.error_code[:32],
        text,
        o.duration_ms,
        o.provider[:64],
    )


#: What a retried or failed row's UPDATE writes.
_OTHERS_FIELDS = (
    "status",
    "attempts",
    "last_error",
    "backend",
    "provider",
    "next_attempt_at",
    "finished_at",
    "claimed_by",
    "lease_expires_at",
    "updated_at",
)
_ATTEMPT_COLUMNS = (
    "message_id",
    "outcome",
    "error_code",
    "error_text",
    "duration_ms",
    "provider",
    "created_at",
)


def _insert_attempts(
    connection: Connection,
    attempts: list[tuple[Any, ...]],
    now: datetime.datetime,
) -> None:
    """INSERT attempt-log rows made at ``now``: one statement on PostgreSQL.

    The values are ints, strings and floats every driver takes as they are,
    so nothing goes through model instances; the one datetime is prepared
    once.
    """
    sql.insert(connection, Attempt, *_attempt_rows(attempts, now, connection))


def _attempt_rows(
    attempts: list[tuple[Any, ...]],
    now: datetime.datetime,
    connection: Connection,
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """Return the attempt log's fields and ``attempts`` as rows stamped ``now``."""
    # Concrete fields: Django's typing cannot tell get_field() returns a Field.
    fields: list[Any] = [Attempt._meta.get_field(name) for name in _ATTEMPT_COLUMNS]
    stamp = fields[-1].get_db_prep_save(now, connection)
    return fields, [(*attempt, stamp) for attempt in attempts]
