"""``drain_outbox``: the django.tasks task that runs one drain of the outbox."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from django.db.models import Min
from django.utils import timezone

# The ignores: mypy types these names by the first import (django-stubs'
# django.tasks) and cannot model the backport or None in its place.
try:  # Django 6 ships the framework; Django 5.2 has the django-tasks backport.
    from django.tasks import task, task_backends
except ImportError:
    try:
        from django_tasks import task, task_backends  # type: ignore[no-redef,assignment]
    except ImportError:
        task = task_backends = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["drain_outbox", "next_due", "task", "task_backends"]

# After a drain stopped on an account or configuration error, wait this long
# before the next wake-up instead of hammering a provider that refuses us.
_ERROR_DELAY = 60


def drain_outbox() -> dict[str, Any]:
    """Run one ``send_queued()`` pass and return its counts as JSON.

    The task takes no arguments: the rows are the single source of truth, so
    a wake-up carries no message content and any number of them, late or
    early, can only drain what is due (claims keep two drains off one row).
    When rows are left waiting for a later time (a retry, a ``send_after``, a
    lease held by a worker that may have died), the next wake-up is enqueued
    for the earliest of them, on backends that support ``run_after``. While
    a backlog remains after the first batch, it asks one more worker to help
    (``sms_outbox.wakeups.ask_for_help()``), so N workers share a burst.
    """
    from sms_outbox.engine import send_queued
    from sms_outbox.wakeups import wake_up

    result = send_queued(progress=_ask_for_help_once())
    due = next_due()
    if due is not None and result.error is not None:
        due = max(due, timezone.now() + datetime.timedelta(seconds=_ERROR_DELAY))
    if result.error is not None:
        logger.error("The outbox drain stopped: %s", result.error)
    woken = wake_up(due, later_only=True) if due is not None else None
    return {
        "sent": result.sent,
        "retrying": result.retrying,
        "failed": result.failed,
        "seconds": round(result.seconds, 3),
        "error": str(result.error) if result.error is not None else None,
        "next_wake_up": woken.isoformat() if woken is not None else None,
    }


def _ask_for_help_once() -> Callable[[object], None]:
    """Return a ``progress`` callback that asks for help at its first call."""
    from sms_outbox.models import Message
    from sms_outbox.wakeups import ask_for_help

    asked = False

    def progress(result: object) -> None:
        nonlocal asked
        if not asked:
            asked = True
            backlog = Message.objects.queued().due()
            if backlog.exists() or Message.objects.expired().exists():
                ask_for_help()

    return progress


def next_due() -> datetime.datetime | None:
    """Return when the outbox next has work: a queued row or an expiring lease."""
    from sms_outbox.models import Message

    queued = Message.objects.queued().aggregate(at=Min("next_attempt_at"))["at"]
    leased = Message.objects.filter(status=Message.Status.SENDING).aggregate(
        at=Min("lease_expires_at")
    )["at"]
    times = [at for at in (queued, leased) if at is not None]
    return min(times) if times else None


if task is not None:
    # Defined with the framework's defaults; the queue, priority, backend and
    # run_after of each wake-up come from SMS_OUTBOX_TASK through .using().
    # A Task from here on; without a framework it stays a plain function.
    drain_outbox = task()(drain_outbox)  # type: ignore[assignment]
