"""The django.tasks hand-off: the drain_outbox task, and when it is enqueued."""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import DEFAULTS, get_setting

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

__all__ = [
    "ask_for_help",
    "drain_outbox",
    "get_task_options",
    "next_due",
    "task",
    "task_backends",
    "wake_on_commit",
    "wake_up",
]

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
    (``sms_outbox.tasks.ask_for_help()``), so N workers share a burst.
    """
    from sms_outbox.drain.run import send_queued

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


if TYPE_CHECKING:
    from django.tasks import Task


# The range django.tasks allows for a task's priority.
_MIN_PRIORITY, _MAX_PRIORITY = -100, 100


def get_task_options(require_framework: bool = True) -> dict[str, Any]:
    """Return ``SMS_OUTBOX_TASK`` over its defaults; raise if it is invalid.

    With ``enabled`` on and ``require_framework``, raise
    ``SmsImproperlyInstalled`` when neither ``django.tasks`` (Django 6) nor
    the ``django-tasks`` backport can be imported.
    """
    value = get_setting("SMS_OUTBOX_TASK")
    defaults = DEFAULTS["SMS_OUTBOX_TASK"]
    if not isinstance(value, dict) or set(value) - set(defaults):
        raise SmsConfigurationError(
            f"SMS_OUTBOX_TASK is {value!r}: set it to a dict with some of the "
            f"keys {', '.join(sorted(defaults))}, e.g. {{'enabled': True}}."
        )
    options = {**defaults, **value}
    _check_options(options)
    if options["enabled"] and require_framework:
        if task is None:
            raise SmsImproperlyInstalled("django-tasks", "outbox-tasks")
    return options


def _check_options(options: dict[str, Any]) -> None:
    priority, window = options["priority"], options["window"]
    problems = []
    if not isinstance(options["enabled"], bool):
        problems.append("'enabled' must be True or False")
    for key in ("backend", "queue_name", "cache"):
        if not isinstance(options[key], str) or not options[key]:
            problems.append(f"{key!r} must be a non-empty name")
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not _MIN_PRIORITY <= priority <= _MAX_PRIORITY
    ):
        problems.append(
            f"'priority' must be a whole number from {_MIN_PRIORITY} to {_MAX_PRIORITY}"
        )
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
        problems.append("'window' must be a number of seconds above 0")
    if problems:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_TASK is invalid: {'; '.join(problems)}."
        )


def wake_on_commit(using: str, due: datetime.datetime) -> None:
    """Ask for a drain at ``due`` once the current transaction on ``using`` commits.

    Nothing is enqueued for rows that roll back. An enqueue that fails (the
    task broker is down) is logged by Django with its traceback and does not
    reach the caller: the rows are stored, and the next wake-up, a periodic
    ``send_queued_sms`` or a ``--loop`` worker sends them.
    """

    # A function, not a partial: Django's robust on_commit logs __qualname__.
    def wake_up_after_commit() -> None:
        wake_up(due)

    transaction.on_commit(wake_up_after_commit, using=using, robust=True)


def wake_up(
    due: datetime.datetime, later_only: bool = False
) -> datetime.datetime | None:
    """Enqueue ``drain_outbox`` to run at ``due``, unless one already covers it.

    Time is cut into windows of ``window`` seconds (default 1). For rows due
    now, the first commit of a window enqueues a wake-up at once; later
    commits of that window share one wake-up at the window's end, which
    starts after all of them committed and so sees their rows. Rows due later
    share one wake-up at the end of the window their due time falls in. A
    key added to the cache (``cache.add``, atomic) says which wake-ups were
    enqueued: with a shared cache (Redis, Memcached, the database) the bound
    holds across processes, with the default local-memory cache per process.
    So a burst of any size enqueues at most two tasks per window and process.

    A backend without ``run_after`` support gets a wake-up at every commit
    (nothing can be deferred, and skipping one could strand rows), and none
    for rows due later: keep a periodic ``send_queued_sms`` for those.
    ``later_only`` (the drain rescheduling itself) never enqueues an
    immediate wake-up. Return the time the wake-up was enqueued for (now for
    an immediate one), or None when none was.
    """
    options = get_task_options()
    if not options["enabled"]:
        return None

    backend = task_backends[options["backend"]]
    now = timezone.now()
    if not backend.supports_defer:
        if due > now or later_only:
            return None
        _enqueue(options, backend, None)
        return now
    if due <= now and not later_only and _enqueue_in_slot(options, backend, "now", now):
        return now
    return _wake_up_at_window_end(options, backend, max(due, now), now)


def _wake_up_at_window_end(
    options: dict[str, Any],
    backend: Any,
    start: datetime.datetime,
    now: datetime.datetime,
) -> datetime.datetime | None:
    """Enqueue one wake-up at the end of the window ``start`` falls in.

    Return its time, or None when it was enqueued already.
    """
    window = options["window"]
    # A start on a boundary moves on to the next window, so the wake-up is
    # always after every commit of the window. Rounded up to a whole second:
    # RQ stores a job's start to the second, rounded down, so a wake-up due
    # at a fraction of one would run early, find its row not yet due, and
    # find its own key taken when it asks for the next wake-up.
    run_at = math.ceil((math.floor(start.timestamp() / window) + 1) * window)
    when = datetime.datetime.fromtimestamp(run_at, tz=datetime.timezone.utc)
    if not settings.USE_TZ:
        when = timezone.make_naive(when)
    timeout = run_at - now.timestamp() + 60
    return (
        when
        if _enqueue_once(options, backend, f"at:{run_at!r}", timeout, when)
        else None
    )


def ask_for_help() -> bool:
    """Enqueue one more drain to run now, at most once per window and process.

    A drain that still sees claimable rows after its first batch calls this,
    so a backlog spreads over the idle workers (each drain that gets help
    asks in turn) instead of waiting for one. Only for backends that run
    tasks elsewhere (those with ``run_after``; ``ImmediateBackend`` would
    nest a drain inside the drain). Return True if a drain was enqueued.
    """
    options = get_task_options()
    if not options["enabled"]:
        return False

    backend = task_backends[options["backend"]]
    if not backend.supports_defer:
        return False
    return _enqueue_in_slot(options, backend, "help", timezone.now())


def _enqueue_in_slot(
    options: dict[str, Any], backend: Any, kind: str, now: datetime.datetime
) -> bool:
    """Enqueue a drain to run now, unless a ``kind`` one was in this window."""
    window = options["window"]
    slot = math.floor(now.timestamp() / window)
    return _enqueue_once(options, backend, f"{kind}:{slot}", window * 2, None)


def _enqueue_once(
    options: dict[str, Any], backend: Any, name: str, timeout: float, when: Any
) -> bool:
    """Enqueue wake-up ``name`` unless the cache says it already was.

    Return True if this call enqueued it. A failed enqueue forgets the key
    again, so the next commit tries anew.
    """
    cache = caches[options["cache"]]
    key = f"sms_outbox:wake:{options['backend']}:{options['queue_name']}:{name}"
    if not cache.add(key, 1, timeout=math.ceil(timeout)):
        return False
    enqueued = False
    try:
        _enqueue(options, backend, when)
        enqueued = True
    finally:
        if not enqueued:
            cache.delete(key)
    return True


def _enqueue(options: dict[str, Any], backend: Any, when: Any) -> None:

    changes: dict[str, Any] = {
        "backend": options["backend"],
        "queue_name": options["queue_name"],
    }
    if backend.supports_priority and options["priority"]:
        changes["priority"] = options["priority"]
    if when is not None:
        changes["run_after"] = when
    # A Task: get_task_options() refuses to enable wake-ups without one.
    cast("Task[[], dict[str, Any]]", drain_outbox).using(**changes).enqueue()
