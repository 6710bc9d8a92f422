"""Expiry: an SMS that waited past its time to live is never sent.

A row may carry ``expires_at``: given when it is queued (``expires_at`` or
``ttl`` on ``QueuedSmsBackend``), or from ``SMS_OUTBOX_TTL``, which gives
defaults per kind. The drain checks it twice: when it claims rows
(``expire_overdue()`` marks overdue rows ``expired``, and the claim query
leaves out any it missed), and right before the provider call
(``split_expired()``), for rows that ran out while the drain held them.
Either way the row ends ``expired`` with an attempt saying why.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Protocol, TypeVar

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from sms.exceptions import SmsConfigurationError
from sms_outbox import sql
from sms_outbox.conf import get_setting
from sms_outbox.models import Attempt, Message, MessageQuerySet
from sms_outbox.sql import retry_when_locked

__all__ = [
    "EXPIRED_TEXT",
    "expire_overdue",
    "expires_at_for",
    "not_overdue",
    "split_expired",
]

#: The attempt logged, and the row's last error, when a row expires.
EXPIRED_TEXT = (
    "Expired: the SMS waited past its time to live (expires_at) and was not sent."
)


class _Expiring(Protocol):
    @property
    def expires_at(self) -> datetime.datetime | None: ...


Row = TypeVar("Row", bound=_Expiring)


def expires_at_for(
    kind: str,
    queued_at: datetime.datetime,
    ttl: datetime.timedelta | float | None = None,
    expires_at: datetime.datetime | None = None,
) -> datetime.datetime | None:
    """Return when an SMS of ``kind`` queued at ``queued_at`` expires, or None.

    ``expires_at`` wins, then ``ttl`` (counted from ``queued_at``), then
    ``SMS_OUTBOX_TTL[kind]``, then ``SMS_OUTBOX_TTL["*"]``.
    """
    if expires_at is not None:
        return expires_at
    if ttl is None:
        defaults = get_setting("SMS_OUTBOX_TTL")
        if not isinstance(defaults, dict):
            raise SmsConfigurationError(
                f"SMS_OUTBOX_TTL is {defaults!r}: set it to a dict of kind to "
                'seconds, such as {"otp": 600}, with "*" for every other kind.'
            )
        ttl = defaults.get(kind, defaults.get("*")) if kind else defaults.get("*")
        if ttl is None:
            return None
        ttl = check_ttl(ttl, f"SMS_OUTBOX_TTL[{kind or '*'!r}]")
    return queued_at + check_ttl(ttl)


def check_ttl(ttl: object, name: str = "ttl") -> datetime.timedelta:
    """Return ``ttl`` (seconds or a timedelta) as a positive timedelta, or raise."""
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        ttl = datetime.timedelta(seconds=ttl)
    if isinstance(ttl, datetime.timedelta) and ttl > datetime.timedelta(0):
        return ttl
    error = SmsConfigurationError if name != "ttl" else ValueError
    raise error(
        f"{name} is {ttl!r}: give the time to live as seconds (600) or a "
        "timedelta greater than zero."
    )


def not_overdue() -> Q:
    """Return the condition a row must meet to be sent: not past ``expires_at``."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=Now())


def _overdue() -> MessageQuerySet:
    return (
        Message.objects.using(sql.outbox_alias()).queued().filter(expires_at__lte=Now())
    )


def expire_overdue() -> int:
    """Mark queued rows past their ``expires_at`` as ``expired``; return how many.

    Each gets an ``expired`` attempt saying why. The common case, nothing
    overdue, costs one read of a partial index and no write lock.
    """
    if not _overdue().exists():
        return 0
    return int(retry_when_locked(_expire_overdue))


def _expire_overdue() -> int:
    connection = sql.outbox_connection()
    with transaction.atomic(using=connection.alias):
        overdue = _overdue()
        if connection.features.has_select_for_update_skip_locked:
            overdue = overdue.select_for_update(skip_locked=True)
        ids = list(overdue.values_list("pk", flat=True)[:10000])
        if not ids:
            return 0
        # Repeat the condition: without row locks (SQLite) a row a drain
        # claimed since the SELECT is left to that drain's own check.
        now = timezone.now()
        _overdue().filter(pk__in=ids).update(
            status=Message.Status.EXPIRED,
            last_error=EXPIRED_TEXT,
            finished_at=now,
            updated_at=now,
        )
        expired = list(
            Message.objects.using(connection.alias)
            .filter(pk__in=ids, status=Message.Status.EXPIRED, updated_at=now)
            .values_list("pk", flat=True)
        )
        Attempt.objects.using(connection.alias).bulk_create(
            Attempt(
                message_id=pk,
                outcome=Attempt.Outcome.EXPIRED,
                error_text=EXPIRED_TEXT,
                created_at=now,
            )
            for pk in expired
        )
    return len(expired)


def split_expired(rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """Return ``rows`` split into those still to send and those past expiry.

    The drain calls it right before the provider call: a row that expired
    while the drain held it must not go out.
    """
    now = timezone.now()
    fresh: list[Row] = []
    late: list[Row] = []
    for row in rows:
        expires = row.expires_at
        (late if expires is not None and expires <= now else fresh).append(row)
    return fresh, late
