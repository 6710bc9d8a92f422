"""Run the drain once, or as a long-running worker that outlives its outages.

A worker (``loop=True``) keeps going through what a production system meets
every week: the database drops its connections, restarts or fails over, and
the provider rejects the account for a while. It logs one line when such an
outage starts and one when it ends, backs off between tries, and stops only
on SIGTERM or SIGINT (after the current message).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections

from sms.exceptions import ProviderAccountError
from sms_outbox.conf import get_setting
from sms_outbox.drain.run import DrainResult, send_queued

logger = logging.getLogger(__name__)

#: Waits between tries while the database is unreachable: 1 s doubling to 30 s.
DATABASE_BACKOFF = (1.0, 30.0)
#: The longest wait after an account error (15 minutes); the first is
#: ``SMS_OUTBOX_ACCOUNT_ERROR_DELAY``.
ACCOUNT_BACKOFF_MAX = 900.0


class _Backoff:
    """A doubling wait that remembers when the outage it measures began."""

    def __init__(self, first: float, longest: float) -> None:
        self.first, self.longest = first, longest
        self.next = first
        self.since: float | None = None

    def failed(self) -> float:
        """Return the wait before the next try and double the one after."""
        if self.since is None:
            self.since = time.monotonic()
        wait, self.next = self.next, min(self.next * 2, self.longest)
        return wait

    def recovered(self) -> float | None:
        """Reset; return how long the outage lasted, or None if there was none."""
        since, self.since, self.next = self.since, None, self.first
        return None if since is None else time.monotonic() - since


def drain_until_stopped(
    loop: bool = False, interval: float = 5.0, **options: Any
) -> Generator[DrainResult, None, None]:
    """Yield the result of ``send_queued(**options)``, once or every ``interval``.

    With ``loop``, run until SIGTERM or SIGINT, which end the run after the
    current message (rows claimed but not sent go back to the queue). A lost
    database or a ``ProviderAccountError`` then pauses the worker instead of
    ending it; without ``loop`` they reach the caller. A configuration error
    ends the worker at once, ``loop`` or not; a missing table is one
    (``send_queued()`` raises ``SmsConfigurationError`` for it), since no
    wait creates it. The previous signal
    handlers are restored when the generator ends.
    """
    stop = threading.Event()
    previous = _handle_stop_signals(lambda *args: stop.set())
    try:
        yield from _drain(stop, loop, interval, options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _drain(
    stop: threading.Event, loop: bool, interval: float, options: dict[str, Any]
) -> Iterator[DrainResult]:
    """Yield each run's result until ``stop`` is set, or after one without ``loop``.

    With ``loop``, back off through database outages and account errors.
    """
    database = _Backoff(*DATABASE_BACKOFF)
    account = _Backoff(
        float(get_setting("SMS_OUTBOX_ACCOUNT_ERROR_DELAY")), ACCOUNT_BACKOFF_MAX
    )
    while not stop.is_set():
        try:
            result = send_queued(stop=stop, **options)
        except (OperationalError, InterfaceError) as err:
            if not loop:
                raise
            stop.wait(_lost_database(database, err))
            continue
        lasted = database.recovered()
        if lasted is not None:
            logger.info("The outbox worker has its database back after %.0f s.", lasted)
        if loop and isinstance(result.error, ProviderAccountError):
            wait = account.failed()
            logger.error(
                "The provider refused the account (%s); the outbox worker "
                "tries again in %g s.",
                result.error,
                wait,
            )
            result.error = None
            yield result
            stop.wait(wait)
            continue
        if account.recovered() is not None:
            logger.info("The provider accepts the account again.")
        yield result
        if not loop or stop.wait(interval):
            break


def _lost_database(database: _Backoff, err: Exception) -> float:
    """Return the wait before the next try; log an outage once, as it starts.

    The connections are dropped, so the next try opens new ones.
    """
    wait = database.failed()
    if wait == database.first:
        logger.error(
            "The outbox worker lost its database (%s); retrying in "
            "%g s, then up to every %g s.",
            str(err).strip().splitlines()[0] if str(err) else err,
            wait,
            database.longest,
        )
    _close_connections()
    return wait


def _close_connections() -> None:
    """Drop every database connection of this thread; broken ones included."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except DatabaseError:
            # Closing a connection the server already dropped can fail too;
            # Django opens a new one on the next query either way.
            conn.connection = None


def _handle_stop_signals(handler: Any) -> dict[int, Any]:
    # Signal handlers can only be installed from the main thread (a test
    # runner or an embedding app may call from another one).
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
