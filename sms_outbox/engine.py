"""Drain the outbox: ``send_queued()`` sends due rows through the real backend.

One run claims rows in batches sized to take about two seconds each, over
one or more threads (each with its own backend and database connection),
sends them (``sms_outbox.sending``) and records what happened
(``sms_outbox.results``), under the retry policy of ``sms_outbox.policy``.
Maintenance of rows (resend, cancel, retry now, purge) is on the model's
queryset, ``Message.objects``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError, connections

import sms
from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError
from sms_outbox import sql
from sms_outbox.ahead import ClaimAhead
from sms_outbox.backends import get_delivery_backend_path
from sms_outbox.claims import claim_rows, release_rows
from sms_outbox.requeue import requeue_expired
from sms_outbox.run import DrainResult, Run
from sms_outbox.sending import send_claim, settle_unsettled
from sms_outbox.writer import Writer

logger = logging.getLogger(__name__)

__all__ = ["DrainResult", "send_queued"]

DEFAULT_BATCH_SIZE = 500
# A claim is sized so that sending it takes about this long (and never more
# than a quarter of the lease), so rows do not outlive their lease in hand.
_BATCH_SECONDS = 2.0
_FIRST_BATCH = 50
#: Seconds of lease a drain keeps in hand beyond ``SMS_TIMEOUT`` before it
#: starts a provider call: enough to record the result before the lease ends.
LEASE_MARGIN = 1.0


def send_queued(
    limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rate: float | None = None,
    concurrency: int = 1,
    stop: threading.Event | None = None,
    progress: Callable[[DrainResult], None] | None = None,
) -> DrainResult:
    """Send due queued rows through ``SMS_OUTBOX_BACKEND``; return the counts.

    Send at most ``limit`` rows, claimed ``batch_size`` at a time, at most
    ``rate`` per second, over ``concurrency`` threads that each hold their own
    backend connection and database connection. Setting ``stop`` ends the run
    after the current message. An account or configuration error from the
    provider stops the run: the rows not yet sent go back to the queue without
    using an attempt and the error is in ``DrainResult.error``. A missing or
    looping ``SMS_OUTBOX_BACKEND``, or a lease too short for ``SMS_TIMEOUT``,
    raises ``SmsConfigurationError`` at once. A database error ends the run
    with that error; the results it could not write are kept in memory and
    written by the next run in this process.
    """
    started = time.monotonic()
    path = get_delivery_backend_path()
    run = Run(limit, rate, stop, progress, _lease_guard())
    # Construct every connection before claiming, so bad credentials or a
    # missing SDK raise before any row changes.
    backends = [sms.get_connection(path) for _ in range(max(1, concurrency))]
    settle_unsettled()
    requeue_expired()
    _work_with_each(run, backends, path, batch_size)
    if run.failure is not None:
        raise run.failure
    result = run.result
    result.seconds = time.monotonic() - started
    _log_run(result)
    return result


def _work_with_each(
    run: Run, backends: list[BaseSmsBackend], path: str, batch_size: int
) -> None:
    """Run one worker per backend: here if there is one, else a thread each."""
    if len(backends) == 1:
        _work(run, backends[0], path, batch_size)
        return
    threads = [
        threading.Thread(target=_work_in_thread, args=(run, backend, path, batch_size))
        for backend in backends
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # join() with a timeout keeps the main thread able to run signal
        # handlers (SIGTERM sets ``stop``).
        while thread.is_alive():
            thread.join(0.2)


def _lease_guard() -> float:
    """Return the lease a claim must have left before a provider call starts."""
    lease = float(get_setting("SMS_OUTBOX_LEASE_SECONDS"))
    timeout = float(get_setting("SMS_TIMEOUT"))
    guard = timeout + LEASE_MARGIN
    if lease <= guard:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_LEASE_SECONDS is {lease:g} but must be longer than "
            f"SMS_TIMEOUT ({timeout:g}) plus {LEASE_MARGIN:g} second, so that a "
            "provider call that runs to its timeout ends while the drain still "
            "holds the SMS: raise SMS_OUTBOX_LEASE_SECONDS (the default is 300)."
        )
    return guard


def _log_run(result: DrainResult) -> None:
    fields = {
        "sent": result.sent,
        "retrying": result.retrying,
        "failed": result.failed,
        "seconds": round(result.seconds, 3),
        "rate": round(result.sent / result.seconds, 1) if result.seconds else 0.0,
    }
    level = logging.INFO if result.total or result.error else logging.DEBUG
    logger.log(
        level,
        "Outbox drain: sent %(sent)d, retrying %(retrying)d, failed %(failed)d "
        "in %(seconds).2f s (%(rate).0f SMS/s)",
        fields,
        extra={"sms_outbox": fields},
    )


def _work_in_thread(
    run: Run, backend: BaseSmsBackend, path: str, batch_size: int
) -> None:
    try:
        _work(run, backend, path, batch_size)
    except BaseException as err:  # noqa: BLE001 - re-raised by send_queued()
        run.fail(err)
    finally:
        connections.close_all()


def _work(run: Run, backend: BaseSmsBackend, path: str, batch_size: int) -> None:
    """Claim, send and record batches until the queue, the limit or the run ends.

    With a writer (PostgreSQL), the next claim is sent once half of the
    current one is sent (``sms_outbox.ahead``); a claim left over when the
    run ends gives its rows back.
    """
    pace = _Pace(run, batch_size)
    writer = Writer.for_connection(sql.outbox_connection())
    ahead: tuple[ClaimAhead, int] | None = None

    def claim_ahead(tried: int) -> None:
        nonlocal ahead
        assert writer is not None  # only passed on when there is a writer
        if run.should_stop():
            return
        wanted = run.take(pace.size_after(tried))
        if wanted:
            ahead = (ClaimAhead(writer, wanted, run.skip()), wanted)

    try:
        backend.open()
        while not run.should_stop():
            if ahead is not None:
                (pending, wanted), ahead = ahead, None
                claim = pending.claim()
            else:
                wanted = run.take(pace.size_after(0))
                if not wanted:
                    break
                claim = claim_rows(wanted, run.skip())
            run.give_back(wanted - len(claim.rows))
            if not claim.rows:
                break
            pace.start()
            prefetch = claim_ahead if writer is not None else None
            tried = send_claim(run, backend, path, claim, writer, prefetch)
            pace.done(tried)
    finally:
        try:
            if ahead is not None:
                _give_back(run, *ahead)
        finally:
            if writer is not None:
                writer.close()
            backend.close()
            if run.progress:
                run.progress(run.result)


class _Pace:
    """Size claims so that sending one takes about two seconds (see above)."""

    def __init__(self, run: Run, batch_size: int) -> None:
        lease_seconds = float(get_setting("SMS_OUTBOX_LEASE_SECONDS"))
        self.run = run
        self.batch_size = batch_size
        self.target = min(_BATCH_SECONDS, lease_seconds / 4)
        self.size = min(_FIRST_BATCH, batch_size)
        self.started = time.monotonic()

    def start(self) -> None:
        self.started = time.monotonic()

    def done(self, tried: int) -> None:
        """Size the next claim from the pace of this one (``tried`` sends)."""
        self.size = self.size_after(tried)

    def size_after(self, tried: int) -> int:
        """Return the next claim's size, from ``tried`` sends of this one so far."""
        size = self.size
        if tried:
            per_message = (time.monotonic() - self.started) / tried
            size = int(self.target / max(per_message, 1e-6))
            size = max(1, min(self.batch_size, size))
        if self.run.interval:
            # Under --rate, never claim more than can go out in time.
            size = min(size, max(1, int(self.target / self.run.interval)))
        return size


def _give_back(run: Run, pending: ClaimAhead, wanted: int) -> None:
    """Put the rows of a claim the run did not get to back in the queue."""
    run.give_back(wanted)
    try:
        claim = pending.claim()
        release_rows(claim.token, [row.id for row in claim.rows])
    except DatabaseError as err:
        # The run is ending on a database error already: the claim's rows,
        # if it was made, go back when its lease runs out.
        logger.warning("Could not give back a claim sent ahead: %s", err)
