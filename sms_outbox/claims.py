"""Claim outbox rows for one worker, atomically, and give back what it did not send."""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import uuid
from typing import NamedTuple

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from sms.conf import get_setting
from sms_outbox.models import Attempt, Message

logger = logging.getLogger(__name__)

_CLAIM_FIELDS = ("id", "body", "originator", "recipient", "reference", "attempts")
# SQLite without an IMMEDIATE transaction mode can refuse a claim at once with
# "database is locked" (two readers both upgrading to a writer); try again.
_LOCKED_RETRIES = 50


class ClaimedRow(NamedTuple):
    """The columns of a claimed row that sending needs."""

    id: int
    body: str
    originator: str
    recipient: str
    reference: str
    attempts: int


class Claim(NamedTuple):
    """Rows one worker holds until ``lease_expires_at``, under the name ``token``."""

    token: str
    rows: list[ClaimedRow]
    lease_expires_at: datetime.datetime


def new_token() -> str:
    """Return a claim owner name: host, process and a random part (<= 64 chars)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim_rows(size: int, now: datetime.datetime | None = None) -> Claim:
    """Mark up to ``size`` due queued rows as ``sending`` for this worker.

    Rows are taken in priority then age order, in one short transaction. On
    databases with ``SELECT ... FOR UPDATE SKIP LOCKED`` concurrent workers
    skip each other's rows; elsewhere (SQLite: one writer at a time under
    ``BEGIN IMMEDIATE``) the UPDATE repeats the queued condition, so a row
    another worker took in between is never taken twice. No transaction
    outlives this call.
    """
    now = now or timezone.now()
    token = new_token()
    lease = now + datetime.timedelta(
        seconds=float(get_setting("SMS_OUTBOX_LEASE_SECONDS"))
    )
    rows = _retry_when_locked(_claim, size, now, token, lease)
    return Claim(token, rows, lease)


def _claim(
    size: int, now: datetime.datetime, token: str, lease: datetime.datetime
) -> list[ClaimedRow]:
    with transaction.atomic():
        candidates = Message.objects.queued().due(now).in_send_order()
        locking = connection.features.has_select_for_update_skip_locked
        if locking:
            candidates = candidates.select_for_update(skip_locked=True)
        if connection.vendor == "postgresql":
            # Walk the claim index in send order and stop at ``size`` rows.
            # Right after a burst of enqueues the statistics still say the
            # queue is tiny, and the planner would fetch and sort all of it.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_sort = off")
        rows = [
            ClaimedRow(*values)
            for values in candidates.values_list(*_CLAIM_FIELDS)[:size]
        ]
        if not rows:
            return []
        chosen = Message.objects.filter(pk__in=[row.id for row in rows])
        if not locking:
            # Without row locks, repeat the condition (an atomic conditional
            # UPDATE): a row another worker took since the SELECT is not taken
            # twice. Locked rows cannot change, and on PostgreSQL the extra
            # condition can steer the planner away from the primary key.
            chosen = chosen.filter(
                status=Message.Status.QUEUED, next_attempt_at__lte=now
            )
        taken = chosen.update(
            status=Message.Status.SENDING,
            claimed_by=token,
            lease_expires_at=lease,
            updated_at=now,
        )
        if taken != len(rows):
            mine = set(
                Message.objects.filter(claimed_by=token).values_list("pk", flat=True)
            )
            rows = [row for row in rows if row.id in mine]
    return rows


def release_rows(token: str, ids: list[int]) -> int:
    """Put rows this worker claimed but did not send back to ``queued``.

    Used when a run stops early; no attempt is used up.
    """
    if not ids:
        return 0
    return Message.objects.filter(
        pk__in=ids, claimed_by=token, status=Message.Status.SENDING
    ).update(
        status=Message.Status.QUEUED,
        claimed_by="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )


def requeue_expired(now: datetime.datetime | None = None) -> int:
    """Put rows whose worker's lease ran out back to ``queued``; return how many.

    The worker likely died, maybe after the provider took the SMS but before
    the result was recorded: an ``unknown`` attempt notes that sending again
    may duplicate it.
    """
    now = now or timezone.now()
    # The common case, nothing expired, costs one read and no write lock.
    if not Message.objects.expired(now).exists():
        return 0
    count = _retry_when_locked(_requeue_expired, now)
    if count:
        logger.warning("Requeued %d outbox SMS whose worker's lease expired.", count)
    return count


def _requeue_expired(now: datetime.datetime) -> int:
    with transaction.atomic():
        expired = Message.objects.expired(now)
        if connection.features.has_select_for_update_skip_locked:
            expired = expired.select_for_update(skip_locked=True)
        ids = list(expired.values_list("pk", flat=True)[:10000])
        if not ids:
            return 0
        Message.objects.filter(pk__in=ids).update(
            status=Message.Status.QUEUED,
            claimed_by="",
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
        Attempt.objects.bulk_create(
            Attempt(
                message_id=pk,
                created_at=now,
                outcome=Attempt.Outcome.UNKNOWN,
                error_text="Lease expired: the worker stopped before recording a "
                "result; the SMS may have been sent.",
            )
            for pk in ids
        )
    return len(ids)


def _retry_when_locked(function, *args):
    """Call ``function``; on SQLite's "database is locked", wait and call again."""
    for attempt in range(_LOCKED_RETRIES):
        try:
            return function(*args)
        except OperationalError as err:
            if "locked" not in str(err) or attempt == _LOCKED_RETRIES - 1:
                raise
            time.sleep(0.01 + 0.01 * attempt)
    raise AssertionError("unreachable")
