"""One drain of the outbox: send_queued() sends due rows through the real backend."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connections, router

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import SmsConfigurationError
from sms.phone import mask_phone_number
from sms_outbox.conf import get_delivery_backend_path, get_setting
from sms_outbox.drain.claims import (
    Claim,
    ClaimedRow,
    claim_rows,
    release_rows,
    requeue_expired,
)
from sms_outbox.drain.failover import close_connections, deliver_routed
from sms_outbox.drain.results import AttemptResult, Recorder
from sms_outbox.drain.sending import GroupRefused, StopDraining
from sms_outbox.models import Attempt, Message
from sms_outbox.optout import OPTED_OUT, enforced_among, opted_out_error
from sms_outbox.schema import missing_tables_explained

logger = logging.getLogger(__name__)

# A run tries each row once: rows it put back for a retry are skipped by its
# later claims. Past this many such rows (a provider outage) the run ends.
MAX_RETRIED_PER_RUN = 500


@dataclass
class DrainResult:
    """Counts of one ``send_queued()`` run.

    ``retrying`` counts rows put back for a later attempt. ``error`` is the
    account or configuration error that stopped the run early, or None.
    """

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    seconds: float = 0.0
    error: Exception | None = None

    @property
    def total(self) -> int:
        """Return the number of rows this run tried to send."""
        return self.sent + self.retrying + self.failed

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retrying {self.retrying}, failed {self.failed} "
            f"in {self.seconds:.1f} s"
        )


class Run:
    """What the worker threads of one run share, behind one lock.

    ``limit`` caps the rows the run takes, ``rate`` the messages it sends per
    second; setting ``stop`` (or an account error, or a thread's crash) ends
    every thread after its current send. ``guard`` is the lease a claim must
    have left before a provider call starts.
    """

    def __init__(
        self,
        limit: int | None,
        rate: float | None,
        stop: threading.Event | None,
        progress: Callable[[DrainResult], None] | None,
        guard: float,
    ) -> None:
        self.remaining = limit
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = time.monotonic()
        self.stop = stop or threading.Event()
        self.progress = progress
        self.guard = guard
        self.result = DrainResult()
        self.failure: BaseException | None = None
        self.retried: set[int] = set()
        self.lock = threading.Lock()

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` rows of the run's limit."""
        with self.lock:
            if self.remaining is None:
                return wanted
            granted = min(wanted, self.remaining)
            self.remaining -= granted
            return granted

    def give_back(self, count: int) -> None:
        """Return ``count`` reserved rows that were not sent to the limit."""
        with self.lock:
            if self.remaining is not None:
                self.remaining += count

    def skip(self) -> frozenset[int]:
        """Return the ids of rows this run already put back for a retry."""
        with self.lock:
            return frozenset(self.retried)

    def throttle(self, messages: int = 1) -> None:
        """Sleep until ``messages`` more sends fit within ``rate``."""
        if not self.interval:
            return
        with self.lock:
            slot = max(self.next_slot, time.monotonic())
            self.next_slot = slot + self.interval * messages
        delay = slot - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)

    def should_stop(self) -> bool:
        """Return True once the run must end (stop, error, too many retries)."""
        return (
            self.stop.is_set()
            or self.result.error is not None
            or self.failure is not None
            or len(self.retried) > MAX_RETRIED_PER_RUN
        )

    def fail(self, error: BaseException, account: bool = False) -> None:
        """Stop every thread: ``account`` errors go in the result, others raise."""
        with self.lock:
            if account and isinstance(error, Exception):
                self.result.error = self.result.error or error
            else:
                self.failure = self.failure or error

    def count(self, result: AttemptResult) -> None:
        """Add ``result`` to the run's counts; log a row that failed for good."""
        decision = result.decision
        with self.lock:
            if not decision.final:
                self.result.retrying += 1
                self.retried.add(result.row.id)
            elif not decision.gave_up:
                self.result.sent += 1
            else:
                self.result.failed += 1
                _log_failure(result)


def _log_failure(result: AttemptResult) -> None:
    logger.warning(
        "Outbox SMS %d to %s failed for good after %d attempt(s): %s%s",
        result.row.id,
        mask_phone_number(result.row.recipient),
        result.row.attempts + 1,
        result.error_text.split(":", 1)[0],
        f" (code {result.error_code})" if result.error_code else "",
    )


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
    raises ``SmsConfigurationError`` at once, and so does a missing table
    (``migrate`` not run). Any other database error ends the run
    with that error; the results it could not write are kept in memory and
    written by the next run in this process.
    """
    started = time.monotonic()
    path = get_delivery_backend_path()
    run = Run(limit, rate, stop, progress, _lease_guard())
    # Construct every connection before claiming, so bad credentials or a
    # missing SDK raise before any row changes.
    backends = [sms.get_connection(path) for _ in range(max(1, concurrency))]
    # A missing table is a forgotten migrate, not an outage: it raises
    # SmsConfigurationError, which a worker does not retry.
    with missing_tables_explained(router.db_for_write(Message)):
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
    """Claim, send and record batches until the queue, the limit or the run ends."""
    pace = _Pace(run, batch_size)
    try:
        backend.open()
        while not run.should_stop():
            wanted = run.take(pace.size_after(0))
            if not wanted:
                break
            claim = claim_rows(wanted, run.skip())
            run.give_back(wanted - len(claim.rows))
            if not claim.rows:
                break
            pace.start()
            pace.done(send_claim(run, backend, path, claim))
    finally:
        backend.close()
        close_connections()
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


Group = list[ClaimedRow]

# Results and releases a run could not write because the database went away,
# kept for the next run in this process to write (their claims' leases may
# still hold; if not, the fenced writes change nothing).
_unsettled: list[tuple[Recorder, str, list[int]]] = []
_unsettled_lock = threading.Lock()


def send_claim(run: Run, backend: BaseSmsBackend, path: str, claim: Claim) -> int:
    """Send the rows of ``claim``; return how many were tried.

    Rows whose number opted out since it was queued fail without a provider
    call (one query per claim).
    """
    recorder = Recorder(path, claim.token)
    rows, refused = _refuse_opted_out(claim.rows)
    _record(run, recorder, refused)
    groups = group_rows(rows, _group_size(backend))
    tried, started = 0, time.monotonic()
    try:
        while groups and not run.should_stop():
            run.throttle(len(groups[0]))
            if claim.time_left() <= run.guard:
                groups = _renew(run, claim, recorder, groups, started, tried)
                continue
            if len(groups[0]) > 1:
                shared = claim.share_reference(groups[0])
                if shared is None:  # the claim lost some: send what it holds alone
                    groups[:1] = [[row] for row in groups[0]]
                    continue
                groups[0] = shared
            try:
                results = deliver_routed(backend, groups[0])
            except GroupRefused:
                groups[:1] = [[row] for row in groups[0]]
                continue
            except StopDraining as stop:
                _record(run, recorder, stop.results)
                sent = {result.row.id for result in stop.results}
                groups[0] = [row for row in groups[0] if row.id not in sent]
                run.fail(stop.error, account=True)
                break
            groups.pop(0)
            tried += len(results)
            _record(run, recorder, results, flush=len(results) > 1)
    finally:
        _settle(recorder, claim.token, [row.id for group in groups for row in group])
    return tried


def group_rows(rows: list[ClaimedRow], size: int) -> list[Group]:
    """Return ``rows`` in groups that can share one provider call.

    A group holds rows with the same body and originator, each to a different
    number, at most ``size`` of them; groups keep the order of their first row.
    """
    groups: list[Group] = []
    open_groups: dict[tuple[str, str], Group] = {}
    for row in rows:
        key = (row.body, row.originator)
        group = open_groups.get(key)
        if (
            group is None
            or len(group) >= size
            or any(other.recipient == row.recipient for other in group)
        ):
            group = open_groups[key] = []
            groups.append(group)
        group.append(row)
    return groups


def _group_size(backend: BaseSmsBackend) -> int:
    if not get_setting("SMS_OUTBOX_GROUP_SENDS"):
        return 1
    return max(1, int(getattr(backend, "batch_size", 1) or 1))


def _record(
    run: Run, recorder: Recorder, results: list[AttemptResult], flush: bool = False
) -> bool:
    """Count and buffer ``results``; write them at once if ``flush``.

    Return True if a batch of results was written (or sent to be written).

    A grouped call's results are written at once, so that its rows carry the
    provider's message id before most delivery reports can arrive.
    """
    flushed = False
    for result in results:
        run.count(result)
        flushed = recorder.add(result) or flushed
    if flush and recorder.pending:
        recorder.flush()
        flushed = True
    if flushed and run.progress:
        run.progress(run.result)
    return flushed


def _renew(
    run: Run,
    claim: Claim,
    recorder: Recorder,
    groups: list[Group],
    started: float,
    tried: int,
) -> list[Group]:
    """Write the results so far and renew the lease of the rows still to send.

    Keep only as many rows as the current pace can send within one lease (at
    least one group); the rest go back to the queue for other workers.
    """
    recorder.flush()
    wanted = _rows_per_lease(run, started, tried)
    keep = 1
    while keep < len(groups) and sum(map(len, groups[: keep + 1])) <= wanted:
        keep += 1
    release_rows(claim.token, [row.id for group in groups[keep:] for row in group])
    held_rows = [row for group in groups[:keep] for row in group]
    held = {row.id for row in claim.renew(held_rows)}
    run.give_back(sum(map(len, groups)) - len(held))
    kept = [[row for row in group if row.id in held] for group in groups[:keep]]
    return [group for group in kept if group]


def _rows_per_lease(run: Run, started: float, tried: int) -> int:
    """Return how many rows the pace so far can send within one fresh lease."""
    lease = float(get_setting("SMS_OUTBOX_LEASE_SECONDS")) - run.guard
    per_message = (time.monotonic() - started) / tried if tried else run.guard
    return max(1, int(lease / max(per_message, 1e-3)))


def _settle(recorder: Recorder, token: str, unsent: list[int]) -> None:
    """Write a claim's results and give back its unsent rows, or keep them."""
    try:
        recorder.flush()
        release_rows(token, unsent)
    except DatabaseError:
        with _unsettled_lock:
            _unsettled.append((recorder, token, unsent))
        raise


def settle_unsettled() -> None:
    """Write what earlier runs could not, before claiming anything new."""
    while True:
        with _unsettled_lock:
            if not _unsettled:
                return
            recorder, token, unsent = _unsettled.pop(0)
        try:
            recorder.flush()
            release_rows(token, unsent)
        except DatabaseError:
            with _unsettled_lock:
                _unsettled.insert(0, (recorder, token, unsent))
            raise


def _refuse_opted_out(
    rows: list[ClaimedRow],
) -> tuple[list[ClaimedRow], list[AttemptResult]]:
    """Split a drain's claimed ``rows`` into those to send and failed outcomes.

    One query for the whole claim. A row whose number opted out while it
    waited gets a ``failed`` outcome saying so, and no provider call.
    """
    refused = enforced_among(row.recipient for row in rows)
    if not refused:
        return rows, []
    outcomes = [
        AttemptResult(
            row,
            Attempt.Outcome.FAILED,
            error_code=OPTED_OUT,
            error_text=f"RecipientOptedOut: {opted_out_error(row.recipient)}",
        )
        for row in rows
        if row.recipient in refused
    ]
    return [row for row in rows if row.recipient not in refused], outcomes
