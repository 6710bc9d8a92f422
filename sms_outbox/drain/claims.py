"""Claim outbox rows under a lease, renew it, give rows back, take back expired ones."""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import uuid
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Concat, Now

from sms_outbox import sql
from sms_outbox.conf import get_setting
from sms_outbox.drain.policy import UNKNOWN, decide
from sms_outbox.expiry import expire_overdue, not_overdue
from sms_outbox.models import Attempt, Message, MessageQuerySet
from sms_outbox.sql import retry_when_locked

logger = logging.getLogger(__name__)

#: The columns of a claimed row, in ``ClaimedRow``'s order.
CLAIM_FIELDS = (
    "id",
    "body",
    "originator",
    "recipient",
    "reference",
    "attempts",
    "kind",
    "time_zone",
    "expires_at",
    "route",
)


class ClaimedRow(NamedTuple):
    """The columns of a claimed row that sending needs."""

    id: int
    body: str
    originator: str
    recipient: str
    reference: str
    attempts: int
    kind: str = ""
    time_zone: str = ""
    expires_at: datetime.datetime | None = None
    route: str = ""


class Claim:
    """Rows one worker holds under the name ``token`` until its lease runs out.

    ``deadline`` is a ``time.monotonic()`` value taken before the database set
    the lease, so it never runs later than the lease the other workers see.
    """

    def __init__(self, token: str, rows: list[ClaimedRow], deadline: float) -> None:
        self.token = token
        self.rows = rows
        self.deadline = deadline

    def time_left(self) -> float:
        """Return the seconds left on the lease, by this process's clock."""
        return self.deadline - time.monotonic()

    def share_reference(self, rows: list[ClaimedRow]) -> list[ClaimedRow] | None:
        """Give ``rows`` the first one's reference, for one provider call; one UPDATE.

        A provider takes one reference per call and its delivery reports carry
        it, so the rows must hold it before the call goes out. Return the rows
        as they now are, or None if this claim no longer holds them all.
        """
        shared = rows[0].reference
        others = [row.id for row in rows[1:]]
        changed = retry_when_locked(update_held, self.token, others, reference=shared)
        if changed != len(others):
            return None
        return [row._replace(reference=shared) for row in rows]

    def renew(self, rows: list[ClaimedRow]) -> list[ClaimedRow]:
        """Extend the lease of ``rows``; return those this worker still holds.

        One UPDATE. A row missing from the answer was taken back by another
        worker after the lease ran out: it must not be sent from here.
        """
        if not rows:
            return []
        started = time.monotonic()
        ids = [row.id for row in rows]
        renewed = retry_when_locked(
            update_held,
            self.token,
            ids,
            lease_expires_at=_lease_end(),
            updated_at=Now(),
        )
        self.deadline = started + lease_seconds()
        if renewed == len(rows):
            return rows
        still = set(held(self.token, ids).values_list("pk", flat=True))
        return [row for row in rows if row.id in still]


def lease_seconds() -> float:
    """Return ``SMS_OUTBOX_LEASE_SECONDS``: how long a claim holds its rows."""
    return float(get_setting("SMS_OUTBOX_LEASE_SECONDS"))


def _lease_end() -> CombinedExpression:
    return Now() + datetime.timedelta(seconds=lease_seconds())


def messages() -> MessageQuerySet:
    """Return the outbox's rows on the database it writes to, reads included."""
    return Message.objects.using(sql.outbox_alias())


def held(token: str, ids: list[int]) -> MessageQuerySet:
    """Return the rows of ``ids`` that claim ``token`` still holds.

    The status is compared as an expression, so that no index on it can
    drive the query: the rows are found by primary key. A long drain leaves
    an index entry for every row version it replaced, and the planner, whose
    statistics say ``sending`` is rare, would otherwise scan those entries
    for each write (docs/performance.md).
    """
    return (
        messages()
        .alias(held_status=Concat("status", Value("")))
        .filter(pk__in=ids, claimed_by=token, held_status=Message.Status.SENDING)
    )


def update_held(token: str, ids: list[int], **values: Any) -> int:
    """Set ``values`` on the rows of ``ids`` claim ``token`` holds; return how many.

    One UPDATE, which finds the rows by primary key (see ``held()``).
    """
    return held(token, ids).update(**values)


def new_token() -> str:
    """Return a claim owner name: host, process and a random part (<= 64 chars)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim_rows(size: int, skip: frozenset[int] = frozenset()) -> Claim:
    """Mark up to ``size`` due queued rows as ``sending`` for a new claim.

    Rows whose id is in ``skip`` (those this run already tried) are left.
    Rows are taken in priority then age order, in one short transaction. On
    databases with ``SELECT ... FOR UPDATE SKIP LOCKED`` concurrent workers
    skip each other's rows; elsewhere (SQLite: one writer at a time under
    ``BEGIN IMMEDIATE``) the UPDATE repeats the queued condition, so a row
    another worker took in between is never taken twice. No transaction
    outlives this call.
    """
    token = new_token()
    expire_overdue()
    started = time.monotonic()
    rows = retry_when_locked(_claim, size, token, skip)
    return Claim(token, rows, started + lease_seconds())


def _claim(size: int, token: str, skip: frozenset[int]) -> list[ClaimedRow]:
    connection = sql.outbox_connection()
    with transaction.atomic(using=connection.alias):
        due = candidates(skip)
        locking = connection.features.has_select_for_update_skip_locked
        if locking:
            due = due.select_for_update(skip_locked=True)
        rows = [ClaimedRow(*v) for v in due.values_list(*CLAIM_FIELDS)[:size]]
        if not rows:
            return []
        chosen = messages().filter(pk__in=[row.id for row in rows])
        if not locking:
            # Without row locks, repeat the condition (an atomic conditional
            # UPDATE): a row another worker took since the SELECT is not taken
            # twice.
            chosen = chosen.queued().due()
        taken = chosen.update(
            status=Message.Status.SENDING,
            claimed_by=token,
            lease_expires_at=_lease_end(),
            updated_at=Now(),
        )
        if taken != len(rows):
            held = messages().filter(claimed_by=token)
            mine = set(held.values_list("pk", flat=True))
            rows = [row for row in rows if row.id in mine]
    return rows


def candidates(skip: frozenset[int]) -> MessageQuerySet:
    """Return the due queued rows in send order, but those in ``skip``.

    Rows past their ``expires_at`` are never among them (sms_outbox.expiry).
    """
    due = messages().queued().due().filter(not_overdue()).in_send_order()
    return due.exclude(pk__in=skip) if skip else due


def release_rows(token: str, ids: list[int], **values: Any) -> int:
    """Put rows claim ``token`` holds but did not send back to ``queued``.

    Used when a run stops early; no attempt is used up. ``values`` are
    further columns to set (``hold_rows()``). Rows the claim no longer holds
    are left alone.
    """
    if not ids:
        return 0
    return retry_when_locked(
        update_held,
        token,
        ids,
        status=Message.Status.QUEUED,
        claimed_by="",
        lease_expires_at=None,
        updated_at=Now(),
        **values,
    )


logger = logging.getLogger(__name__)

#: What a requeue after an expired lease writes as the row's last error, and
#: the final error once that used up the row's attempts.
LEASE_EXPIRED = (
    "Lease expired: the worker stopped or outlived its lease before recording "
    "a result; the SMS may have been sent."
)
KEPT_DYING = (
    "Failed: every worker that took this SMS died or outlived its lease before "
    "recording a result (see the attempt log); it may have been sent."
)


def hold_rows(token: str, until: dict[int, datetime.datetime]) -> int:
    """Put rows claim ``token`` holds back to ``queued``, each due at its time.

    ``until`` maps row ids to when each may go out (the end of quiet hours
    that began while the row waited for a drain). No attempt is used up and
    nothing is logged: the row was never tried. One UPDATE; rows the claim
    no longer holds are left alone. Return how many it changed.
    """
    if not until:
        return 0
    due = Case(
        *(When(pk=pk, then=Value(when)) for pk, when in until.items()),
        output_field=DateTimeField(),
    )
    return release_rows(token, list(until), next_attempt_at=due)


def requeue_expired() -> int:
    """Take back rows whose worker's lease ran out; return how many.

    The worker likely died or hung, maybe after the provider took the SMS but
    before the result was recorded, so this counts as an attempt: an
    ``unknown`` one is logged, and a row that used its last attempt this way
    is ``failed`` (a row that kills every worker that takes it must not be
    retried forever).
    """
    # The common case, nothing expired, costs one read and no write lock.
    if not messages().expired().exists():
        return 0
    count = retry_when_locked(_requeue_expired)
    if count:
        logger.warning("Took back %d outbox SMS whose worker's lease expired.", count)
    return count


def _requeue_expired() -> int:
    connection = sql.outbox_connection()
    with transaction.atomic(using=connection.alias):
        expired = messages().expired()
        if connection.features.has_select_for_update_skip_locked:
            expired = expired.select_for_update(skip_locked=True)
        rows = list(expired.values_list("pk", "attempts")[:10000])
        if not rows:
            return 0
        # A lost lease is an attempt of unknown outcome to the retry policy.
        giving_up = [pk for pk, tries in rows if decide(UNKNOWN, tries).gave_up]
        _take_back([pk for pk, _ in rows], giving_up)
        Attempt.objects.using(connection.alias).bulk_create(
            Attempt(
                message_id=pk,
                outcome=Attempt.Outcome.UNKNOWN,
                error_text=LEASE_EXPIRED,
            )
            for pk, _ in rows
        )
    return len(rows)


def _take_back(ids: list[int], giving_up: list[int]) -> None:
    """Queue expired rows ``ids`` again, failing those in ``giving_up``."""
    # Repeat the condition: without row locks (SQLite) a holder that renewed
    # its lease or wrote its result since the SELECT keeps its row.
    last = When(pk__in=giving_up, then=Value(Message.Status.FAILED))
    messages().expired().filter(pk__in=ids).update(
        status=Case(last, default=Value(Message.Status.QUEUED)),
        attempts=F("attempts") + 1,
        last_error=Case(
            When(pk__in=giving_up, then=Value(KEPT_DYING)),
            default=Value(LEASE_EXPIRED),
        ),
        finished_at=Case(
            When(pk__in=giving_up, then=Now()), output_field=DateTimeField()
        ),
        claimed_by="",
        lease_expires_at=None,
        next_attempt_at=Now(),
        updated_at=Now(),
    )
