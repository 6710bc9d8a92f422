"""Take back rows whose worker's lease ran out: it died, hung or lost the database.

Such a row may have gone out (the provider took it, the result was never
recorded), so taking it back counts as an attempt of unknown outcome under the
retry policy: a row that kills every worker that takes it fails in the end
instead of being retried forever.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Now

from sms_outbox import sql
from sms_outbox.claims import messages
from sms_outbox.models import Attempt, Message
from sms_outbox.policy import UNKNOWN, decide
from sms_outbox.transient import retry_when_locked

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
