"""One drain of the outbox: send_queued() keeps provider calls in flight.

A drain is one coordinating thread and a pool of caller threads. The
coordinator does every database write: it claims rows, groups them, checks
each claim's lease before a call starts, starts calls at the pace the
account's rate allows (``rate``), and records what each call did. The caller
threads only make provider calls, each over its own backend connection
(provider SDKs block), so up to ``SMS_OUTBOX_MAX_IN_FLIGHT`` calls are in
flight at once, all fed from the same claims: a few rows due keep as many
calls busy as many rows do.
"""

from __future__ import annotations

import collections
import datetime
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import DatabaseError, connections, router
from django.utils import timezone

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import SmsConfigurationError
from sms.phone import mask_phone_number
from sms_outbox.conf import get_delivery_backend_path, get_setting
from sms_outbox.drain.claims import (
    Claim,
    ClaimedRow,
    claim_rows,
    hold_rows,
    lease_seconds,
    release_rows,
    requeue_expired,
)
from sms_outbox.drain.failover import close_connections, send_routed
from sms_outbox.drain.rate import Pacer
from sms_outbox.drain.results import FLUSH_EVERY_SECONDS, AttemptResult, Recorder
from sms_outbox.drain.sending import (
    GroupRefused,
    StopDraining,
    Throttled,
    announce,
)
from sms_outbox.models import Attempt, Message
from sms_outbox.optout import OPTED_OUT, enforced_among, opted_out_error
from sms_outbox.schedule import release_time
from sms_outbox.schema import missing_tables_explained

logger = logging.getLogger(__name__)

__all__ = ["DrainResult", "send_queued"]

# A run tries each row once: rows it put back for a retry are skipped by its
# later claims. Past this many such rows (a provider outage) the run ends.
MAX_RETRIED_PER_RUN = 500
#: A row the provider throttled this many times in one run goes back to the
#: queue (no attempt used) for a later run.
MAX_THROTTLES_PER_ROW = 20
DEFAULT_BATCH_SIZE = 500
# A claim is sized so that sending it takes about this long (and never more
# than a quarter of the lease), so rows do not outlive their lease in hand.
_BATCH_SECONDS = 2.0
_FIRST_BATCH = 50
#: Seconds of lease a drain keeps in hand beyond ``SMS_TIMEOUT`` before it
#: starts a provider call: enough to record the result before the lease ends.
LEASE_MARGIN = 1.0
# How many waiting groups the drain looks through for one whose sender may
# send now (under a per-sender rate).
_SCAN = 64
# The longest the coordinator waits before it looks at ``stop`` again.
_TICK = 0.2
#: Calls that come back faster than this (seconds, on average) run on the
#: drain's own thread: they never left the process (``_Callers``).
_QUICK_CALL = 0.0005
#: Calls timed before the first average, and the span of the moving average.
_TIMED_CALLS = 8


@dataclass
class DrainResult:
    """Counts of one ``send_queued()`` run.

    ``retrying`` counts rows put back for a later attempt. ``throttled``
    counts the provider's "too many requests" answers, which use up no
    attempt. ``error`` is the account or configuration error that stopped
    the run early, or None.
    """

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    seconds: float = 0.0
    error: Exception | None = None
    throttled: int = 0

    @property
    def total(self) -> int:
        """Return the number of rows this run tried to send."""
        return self.sent + self.retrying + self.failed

    def __str__(self) -> str:
        throttled = f", throttled {self.throttled}" if self.throttled else ""
        return (
            f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}"
            f"{throttled} in {self.seconds:.1f} s"
        )


class Run:
    """What one run shares with its caller: limit, stop, counts, failure.

    ``limit`` caps the rows the run takes; setting ``stop`` (or an account
    error, or a crash) ends the run once the calls in flight are back.
    ``guard`` is the lease a claim must have left before a provider call
    starts.
    """

    def __init__(
        self,
        limit: int | None,
        stop: threading.Event | None,
        progress: Callable[[DrainResult], None] | None,
        guard: float,
    ) -> None:
        self.remaining = limit
        self.stop = stop or threading.Event()
        self.progress = progress
        self.guard = guard
        self.result = DrainResult()
        self.failure: BaseException | None = None
        self.retried: set[int] = set()

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` rows of the run's limit."""
        if self.remaining is None:
            return wanted
        granted = min(wanted, self.remaining)
        self.remaining -= granted
        return granted

    def give_back(self, count: int) -> None:
        """Return ``count`` reserved rows that were not sent to the limit."""
        if self.remaining is not None:
            self.remaining += count

    def should_stop(self) -> bool:
        """Return True once the run must end (stop, error, too many retries)."""
        return (
            self.stop.is_set()
            or self.result.error is not None
            or self.failure is not None
            or len(self.retried) > MAX_RETRIED_PER_RUN
        )

    def fail(self, error: BaseException, account: bool = False) -> None:
        """End the run: ``account`` errors go in the result, others raise."""
        if account and isinstance(error, Exception):
            self.result.error = self.result.error or error
        else:
            self.failure = self.failure or error

    def count(self, result: AttemptResult) -> None:
        """Add ``result`` to the run's counts; log a row that failed for good."""
        decision = result.decision
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


def send_queued(
    limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rate: float | None = None,
    concurrency: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[DrainResult], None] | None = None,
) -> DrainResult:
    """Send due queued rows through ``SMS_OUTBOX_BACKEND``; return the counts.

    Send at most ``limit`` rows, claimed at most ``batch_size`` at a time,
    with up to ``concurrency`` (``SMS_OUTBOX_MAX_IN_FLIGHT``) provider calls
    in flight, each over its own backend connection. ``rate`` (the account
    figure of ``SMS_OUTBOX_RATE``) caps the messages per second of every
    drain of the site together. Setting ``stop`` ends the run once the calls
    in flight are back. An account or configuration error from the provider
    stops the run: the rows not yet sent go back to the queue without using
    an attempt and the error is in ``DrainResult.error``. A provider's "too
    many requests" slows the drain down and its row is tried again, without
    using an attempt. A missing or looping ``SMS_OUTBOX_BACKEND``, a lease
    too short for ``SMS_TIMEOUT`` or an invalid rate raises
    ``SmsConfigurationError`` at once, and so does a missing table
    (``migrate`` not run). Any other database error ends the run with that
    error; the results it could not write are kept in memory and
    written by the next run in this process.
    """
    started = time.monotonic()
    path = get_delivery_backend_path()
    run = Run(limit, stop, progress, _lease_guard())
    in_flight = max_in_flight(concurrency)
    pacer = Pacer(path, rate, in_flight)
    # Construct a connection before claiming, so bad credentials or a
    # missing SDK raise before any row changes.
    first = sms.get_connection(path)
    # A missing table is a forgotten migrate, not an outage: it raises
    # SmsConfigurationError, which a worker does not retry.
    with missing_tables_explained(router.db_for_write(Message)):
        settle_unsettled()
        requeue_expired()
        callers = _Callers(path, first, in_flight)
        try:
            _Drain(run, pacer, callers, path, batch_size, _group_size(first)).drain()
        finally:
            callers.close()
        if run.failure is not None:
            raise run.failure
    result = run.result
    result.throttled = pacer.throttled_count
    result.seconds = time.monotonic() - started
    _log_run(result)
    return result


def max_in_flight(concurrency: int | None = None) -> int:
    """Return how many provider calls a drain keeps in flight.

    ``concurrency`` beats ``SMS_OUTBOX_MAX_IN_FLIGHT``.
    """
    value = (
        concurrency
        if concurrency is not None
        else get_setting("SMS_OUTBOX_MAX_IN_FLIGHT")
    )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_MAX_IN_FLIGHT is {value!r}: set it to the number of "
            "provider calls one drain keeps in flight, a whole number of at "
            "least 1 (the default is 32)."
        )
    return value


def _lease_guard() -> float:
    """Return the lease a claim must have left before a provider call starts."""
    lease = lease_seconds()
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
        "throttled": result.throttled,
        "seconds": round(result.seconds, 3),
        "rate": round(result.sent / result.seconds, 1) if result.seconds else 0.0,
    }
    level = logging.INFO if result.total or result.error else logging.DEBUG
    logger.log(
        level,
        "Outbox drain: sent %(sent)d, retrying %(retrying)d, failed %(failed)d, "
        "throttled %(throttled)d in %(seconds).2f s (%(rate).0f SMS/s)",
        fields,
        extra={"sms_outbox": fields},
    )


Group = list[ClaimedRow]


@dataclass(eq=False)
class _Held:
    """A claim the drain holds: its rows waiting, in flight, and its results."""

    claim: Claim
    recorder: Recorder
    waiting: int = 0  # groups in the drain's queue
    flying: dict[int, ClaimedRow] = field(default_factory=dict)
    calls: int = 0  # calls in flight
    settled: bool = False


class _Job(NamedTuple):
    held: _Held
    rows: Group
    started: float  # time.monotonic()


class _Callers:
    """The threads that make provider calls, each over its own backend connection.

    Threads start as calls need them, up to ``size``. They touch no
    database: ``send_rows()`` only calls the provider. A call runs on the
    drain's own thread instead when there is nothing to overlap it with:
    with ``size`` 1, and while calls come back in under ``_QUICK_CALL``
    seconds (an in-process backend such as locmem or console, which no
    network provider answers as fast), where handing each call to a thread
    and its result back would cost more than the call. A slow call on the
    drain's thread sends the next ones to the threads again.
    """

    def __init__(self, path: str, first: BaseSmsBackend, size: int) -> None:
        self.path = path
        self.size = size
        self.spare = [first]
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.busy = 0
        # The backend of calls on the drain's own thread, once one ran there.
        self.own: BaseSmsBackend | None = None
        # How long calls took lately (a moving average), once enough came back.
        self.call_seconds: float | None = None
        self.timed = 0
        self.first_seconds = 0.0

    def free(self) -> int:
        """Return how many more calls may start now."""
        return self.size - self.busy

    def submit(self, job: _Job) -> None:
        """Start the call of ``job``: here if calls are quick, else on a thread."""
        if self.size == 1 or self._quick():
            backend = self._own()
            self.busy += 1
            self.done.put(_timed_call(backend, job))
            return
        if self.busy >= len(self.threads):
            backend = self.spare.pop() if self.spare else sms.get_connection(self.path)
            thread = threading.Thread(
                target=self._serve,
                args=(backend,),
                name=f"sms-outbox-caller-{len(self.threads)}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)
        self.busy += 1
        self.jobs.put(job)

    def _quick(self) -> bool:
        return self.call_seconds is not None and self.call_seconds < _QUICK_CALL

    def _own(self) -> BaseSmsBackend:
        """Return the drain thread's backend, opened on first use."""
        if self.own is None:
            self.own = self.spare.pop() if self.spare else sms.get_connection(self.path)
            self.own.open()
        return self.own

    def finished(self, timeout: float) -> list[_Done]:
        """Return the calls that came back, waiting up to ``timeout`` for one."""
        done = []
        try:
            done.append(
                self.done.get(timeout=timeout)
                if timeout > 0
                else self.done.get_nowait()
            )
            while True:
                done.append(self.done.get_nowait())
        except queue.Empty:
            pass
        self.busy -= len(done)
        for call in done:
            self._time(call.seconds)
        return done

    def _time(self, seconds: float) -> None:
        """Fold one call's duration into ``call_seconds``.

        The first ``_TIMED_CALLS`` calls give a plain mean; each later call
        moves a moving average by its share.
        """
        self.timed += 1
        if self.call_seconds is None:
            self.first_seconds += seconds
            if self.timed >= _TIMED_CALLS:
                self.call_seconds = self.first_seconds / self.timed
            return
        self.call_seconds += (seconds - self.call_seconds) / _TIMED_CALLS

    def _serve(self, backend: BaseSmsBackend) -> None:
        try:
            backend.open()
            while (job := self.jobs.get()) is not None:
                self.done.put(_timed_call(backend, job))
        finally:
            backend.close()
            close_connections()
            connections.close_all()

    def close(self) -> None:
        """Stop every thread once its call is back."""
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            # join() with a timeout keeps the main thread able to run signal
            # handlers (SIGTERM sets ``stop``).
            while thread.is_alive():
                thread.join(_TICK)
        if self.own is not None:
            self.own.close()
            close_connections()


class _Done(NamedTuple):
    """A call that came back: its job, what it returned or raised, and how long."""

    job: _Job
    outcome: object
    backend: BaseSmsBackend
    seconds: float


def _timed_call(backend: BaseSmsBackend, job: _Job) -> _Done:
    started = time.perf_counter()
    outcome = _call(backend, job)
    return _Done(job, outcome, backend, time.perf_counter() - started)


def _call(backend: BaseSmsBackend, job: _Job) -> object:
    """Make the provider call of ``job``; return its results or what it raised."""
    try:
        return send_routed(backend, job.rows)
    except (StopDraining, GroupRefused, Throttled) as err:
        return err
    except BaseException as err:  # noqa: BLE001 - re-raised by the drain
        return err


class _Drain:
    """The coordinator of one run: claims, paces, starts calls, records results."""

    def __init__(
        self,
        run: Run,
        pacer: Pacer,
        callers: _Callers,
        path: str,
        batch_size: int,
        group_size: int,
    ) -> None:
        self.run = run
        self.pacer = pacer
        self.callers = callers
        self.path = path
        self.batch_size = batch_size
        self.group_size = group_size
        self.queue: collections.deque[tuple[_Held, Group]] = collections.deque()
        # Groups whose sender's next slot is later (a Unix time).
        self.parked: list[tuple[float, _Held, Group]] = []
        # The next group to start, with the time its account slot comes.
        self.next: tuple[float, _Held, Group] | None = None
        self.helds: list[_Held] = []
        self.exhausted = False
        self.throttles: collections.Counter[int] = collections.Counter()
        self.started = time.monotonic()
        self.done_rows = 0
        # Rows in ``queue``, ``parked`` and ``next``: kept as a count, since
        # the coordinator asks for it before every call it starts.
        self.waiting_rows = 0

    def run_until_done(self) -> None:
        """Claim, start and record calls until the queue, the limit or the run ends."""
        while True:
            self._collect(0)
            self._flush_due()
            if self.run.should_stop():
                return
            self._refill()
            self._dispatch()
            if self._finished():
                return
            self._collect(self._wait())

    def drain(self) -> None:
        """Run the drain; then land the calls in flight and settle every claim."""
        try:
            self.run_until_done()
        finally:
            self._land()

    # Claims -----------------------------------------------------------------

    def _count_waiting(self) -> None:
        """Count ``waiting_rows`` afresh, after the queue lost rows in bulk."""
        rows = sum(len(group) for _, group in self.queue)
        rows += sum(len(group) for _, _, group in self.parked)
        self.waiting_rows = rows + (len(self.next[2]) if self.next else 0)

    def _pace(self) -> float | None:
        """Return the rows per second this run's calls came back at, if known."""
        elapsed = time.monotonic() - self.started
        if self.done_rows < 1 or elapsed <= 0:
            return None
        return self.done_rows / elapsed

    def _refill(self) -> None:
        """Claim more rows when the queue runs low (one claim at a time)."""
        if self.exhausted:
            return
        pace = self._pace()
        low = max(2 * self.callers.size, int((pace or 0) / 2))
        rate = self.pacer.rate()
        if rate is not None:
            low = min(low, max(1, int(rate)))  # a second's worth is plenty
        if self.waiting_rows >= low:
            return
        wanted = self.run.take(self._claim_size(pace))
        if not wanted:
            self.exhausted = True
            return
        claim = claim_rows(wanted, frozenset(self.run.retried))
        self.run.give_back(wanted - len(claim.rows))
        if not claim.rows:
            self.exhausted = True
            return
        held = _Held(claim, Recorder(self.path, claim.token))
        self.helds.append(held)
        rows, refused = _refuse_opted_out(claim.rows)
        self._record(held, refused)
        rows, quiet = _quiet_now(rows)
        if quiet:
            hold_rows(claim.token, quiet)
            self.run.give_back(len(quiet))
        for group in group_rows(rows, self.group_size):
            self.queue.append((held, group))
            held.waiting += 1
        self.waiting_rows += len(rows)
        self._settle_if_done(held)

    def _claim_size(self, pace: float | None) -> int:
        """Size a claim so that sending it takes about ``_BATCH_SECONDS``."""
        target = min(_BATCH_SECONDS, lease_seconds() / 4)
        if pace is None:
            size = max(_FIRST_BATCH, 2 * self.callers.size)
        else:
            size = int(pace * target)
        rate = self.pacer.rate()
        if rate is not None:
            # Under a rate, never claim more than can go out in time.
            size = min(size, int(rate * target))
        return max(1, min(self.batch_size, size))

    # Starting calls ---------------------------------------------------------

    def _dispatch(self) -> None:
        """Start calls while callers are free and the rate allows."""
        while self.callers.free() > 0 and not self.run.should_stop():
            if self.next is None:
                picked = self._pick()
                if picked is None:
                    return
                held, group = picked
                self.next = (self.pacer.account_slot(len(group)), held, group)
            when, held, group = self.next
            if when > time.time():
                return
            self.next = None
            held.waiting -= 1
            self.waiting_rows -= len(group)
            self._start(held, group)

    def _pick(self) -> tuple[_Held, Group] | None:
        """Take the next group whose sender may send now, or None."""
        now = time.time()
        for index, (when, held, group) in enumerate(self.parked):
            if when <= now:
                del self.parked[index]
                return held, group
        if self.pacer.limits.sender is None:
            return self.queue.popleft() if self.queue else None
        index = 0
        while index < min(len(self.queue), _SCAN):
            held, group = self.queue[index]
            sender = group[0].originator
            if self.pacer.sender_free_at(sender) > now:
                index += 1
                continue
            del self.queue[index]
            when = self.pacer.sender_slot(sender)
            if when <= now:
                return held, group
            # Another drain holds the sender's next slots: wait for ours.
            self.parked.append((when, held, group))
        return None

    def _start(self, held: _Held, group: Group) -> None:
        """Check the claim's lease and hand ``group`` to a caller thread.

        No call starts unless its claim has more than ``SMS_TIMEOUT`` plus a
        margin of lease left: the call ends, and its result is written,
        before another worker may take the rows back.
        """
        if held.claim.time_left() <= self.run.guard:
            group = self._renew(held, group)
            if not group:
                self._settle_if_done(held)
                return
        if len(group) > 1:
            shared = held.claim.share_reference(group)
            if shared is None:  # the claim lost some: send what it holds alone
                self._put_back(held, [[row] for row in group])
                return
            group = shared
        self.pacer.sent(len(group))
        held.calls += 1
        held.flying.update((row.id, row) for row in group)
        self.callers.submit(_Job(held, group, time.monotonic()))

    def _put_back(self, held: _Held, groups: list[Group]) -> None:
        """Queue ``groups`` of ``held`` again, first in line."""
        for group in reversed(groups):
            self.queue.appendleft((held, group))
            held.waiting += 1
            self.waiting_rows += len(group)

    def _renew(self, held: _Held, group: Group) -> Group:
        """Renew the lease of a claim's rows; return those of ``group`` still held.

        Writes the results so far first. Keeps waiting only as many rows as
        the run's pace sends within one lease; the rest go back to the
        queue for other workers. Rows in flight are renewed too.
        """
        held.recorder.flush()
        pace = self._pace()
        lease = lease_seconds() - self.run.guard
        room = int(pace * lease) if pace else self.batch_size
        keep: list[Group] = []
        release: list[Group] = []
        room -= len(group)
        for item in [g for h, g in self.queue if h is held]:
            if room >= len(item):
                keep.append(item)
                room -= len(item)
            else:
                release.append(item)
        released = {id(g) for g in release}
        self.queue = collections.deque(
            (h, g) for h, g in self.queue if id(g) not in released
        )
        held.waiting -= len(release)
        ids = [row.id for item in release for row in item]
        release_rows(held.claim.token, ids)
        self.run.give_back(len(ids))
        parked = [g for _, h, g in self.parked if h is held]
        nxt = [self.next[2]] if self.next and self.next[1] is held else []
        rows = [row for item in [group, *keep, *parked, *nxt] for row in item]
        still = {row.id for row in held.claim.renew(rows + list(held.flying.values()))}
        lost = [row for row in rows if row.id not in still]
        if lost:
            self.run.give_back(len(lost))
            self._drop_lost(held, still)
        self._count_waiting()
        return [row for row in group if row.id in still]

    def _drop_lost(self, held: _Held, still: set[int]) -> None:
        """Remove from the queue the rows of ``held`` another worker took back."""
        kept: collections.deque[tuple[_Held, Group]] = collections.deque()
        for h, g in self.queue:
            if h is held:
                g = [row for row in g if row.id in still]
                if not g:
                    held.waiting -= 1
                    continue
            kept.append((h, g))
        self.queue = kept
        parked = []
        for when, h, g in self.parked:
            if h is held:
                g = [row for row in g if row.id in still]
                if not g:
                    held.waiting -= 1
                    continue
            parked.append((when, h, g))
        self.parked = parked
        if self.next and self.next[1] is held:
            g = [row for row in self.next[2] if row.id in still]
            if g:
                self.next = (self.next[0], held, g)
            else:
                self.next = None
                held.waiting -= 1

    # Calls that came back ---------------------------------------------------

    def _wait(self) -> float:
        """Return how long to wait for a call to come back before looking again."""
        if not self.callers.free():
            return _TICK  # only a call coming back lets another start
        if not (self.queue or self.parked or self.next or self.exhausted):
            return 0  # claim again at once
        now = time.time()
        times = [self.next[0]] if self.next else []
        times += [when for when, _, _ in self.parked]
        if self.pacer.limits.sender is not None:
            waiting = itertools.islice(self.queue, _SCAN)
            times += [self.pacer.sender_free_at(g[0].originator) for _, g in waiting]
        wait = min([_TICK, *(t - now for t in times if t > now)])
        if self.callers.busy:
            return max(wait, 0.0005)
        if wait > 0:
            self.run.stop.wait(wait)
        return 0

    def _collect(self, timeout: float) -> None:
        """Land every call that came back, even if the database fails on one.

        A result that could not be written stays buffered in its claim's
        recorder (and is kept for the next run); the first database error is
        raised once every call that came back is accounted for.
        """
        error: DatabaseError | None = None
        for job, outcome, backend, _ in self.callers.finished(timeout):
            held = job.held
            held.calls -= 1
            for row in job.rows:
                held.flying.pop(row.id, None)
            try:
                self._land_outcome(job, outcome, backend)
                self._settle_if_done(held)
            except DatabaseError as err:
                error = error or err
        if error is not None:
            raise error

    def _land_outcome(
        self, job: _Job, outcome: object, backend: BaseSmsBackend
    ) -> None:
        """Record what one call did to its rows; queue again what did not go."""
        held = job.held
        if isinstance(outcome, list):
            self.done_rows += len(outcome)
            self._record(held, outcome, flush=len(outcome) > 1)
            announce(backend, outcome)
        elif isinstance(outcome, GroupRefused):
            self._put_back(held, [[row] for row in job.rows])
        elif isinstance(outcome, Throttled):
            self._record(held, outcome.results)
            announce(backend, outcome.results)
            self.pacer.throttled(outcome.retry_after, job.started)
            self._throttled(held, job.rows, outcome.results)
        elif isinstance(outcome, StopDraining):
            self._record(held, outcome.results, flush=True)
            announce(backend, outcome.results)
            self._put_back(held, [_unsent(job.rows, outcome.results)])
            self.run.fail(outcome.error, account=True)
        else:
            assert isinstance(outcome, BaseException)
            self._put_back(held, [job.rows])
            self.run.fail(outcome)

    def _throttled(
        self, held: _Held, rows: Group, results: list[AttemptResult]
    ) -> None:
        """Queue the rows the provider throttled again, without using an attempt.

        A row throttled ``MAX_THROTTLES_PER_ROW`` times in this run goes back
        to the outbox's queue for a later run instead.
        """
        unsent = _unsent(rows, results)
        again: list[ClaimedRow] = []
        done: list[ClaimedRow] = []
        for row in unsent:
            self.throttles[row.id] += 1
            (done if self.throttles[row.id] >= MAX_THROTTLES_PER_ROW else again).append(
                row
            )
        if again:
            self._put_back(held, [again])
        if done:
            release_rows(held.claim.token, [row.id for row in done])
            self.run.give_back(len(done))
            self.run.retried.update(row.id for row in done)

    def _record(
        self, held: _Held, results: list[AttemptResult], flush: bool = False
    ) -> None:
        """Count and buffer ``results``; write them at once if ``flush``.

        A grouped call's results are written at once, so that its rows carry
        the provider's message id before most delivery reports can arrive.
        """
        for result in results:
            self.run.count(result)
        flushed = held.recorder.add_all(results, flush=flush)
        if flushed and self.run.progress:
            self.run.progress(self.run.result)

    def _flush_due(self) -> None:
        """Write results buffered for a second, even while no call comes back.

        A call that hangs must not keep the results of the calls beside it
        in memory until its claim's lease runs out.
        """
        flushed = False
        for held in self.helds:
            recorder = held.recorder
            if recorder.pending and (
                time.monotonic() - recorder.last_flush >= FLUSH_EVERY_SECONDS
            ):
                recorder.flush()
                flushed = True
        if flushed and self.run.progress:
            self.run.progress(self.run.result)

    def _finished(self) -> bool:
        return (
            self.exhausted
            and not self.queue
            and not self.parked
            and self.next is None
            and not self.callers.busy
        )

    # Settling ---------------------------------------------------------------

    def _settle_if_done(self, held: _Held) -> None:
        """Write a claim's results once none of its rows wait or fly."""
        if held.settled or held.waiting or held.calls:
            return
        held.settled = True
        self.helds.remove(held)
        written = bool(held.recorder.pending)
        _settle(held.recorder, held.claim.token, [])
        if written and self.run.progress:
            self.run.progress(self.run.result)

    def _land(self) -> None:
        """Wait for the calls in flight, record them, give back the rows left.

        Runs however the run ended. A database error while recording keeps
        the results in memory (``settle_unsettled()``) and is raised after
        every claim was dealt with.
        """
        error: BaseException | None = None
        while self.callers.busy:
            try:
                self._collect(_TICK)
            except DatabaseError as err:
                error = error or err
        waiting: dict[int, list[int]] = collections.defaultdict(list)
        items = [*self.queue, *((h, g) for _, h, g in self.parked)]
        if self.next:
            items.append((self.next[1], self.next[2]))
        for held, group in items:
            waiting[id(held)] += [row.id for row in group]
            self.run.give_back(len(group))
        self.queue.clear()
        self.parked.clear()
        self.next = None
        self.waiting_rows = 0
        for held in list(self.helds):
            held.settled = True
            try:
                _settle(held.recorder, held.claim.token, waiting[id(held)])
            except DatabaseError as err:
                error = error or err
        self.helds.clear()
        if error is not None:
            raise error


def _unsent(rows: Group, results: list[AttemptResult]) -> Group:
    """Return the rows of a call that have no result in ``results``."""
    done = {result.row.id for result in results}
    return [row for row in rows if row.id not in done]


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


# Results and releases a run could not write because the database went away,
# kept for the next run in this process to write (their claims' leases may
# still hold; if not, the fenced writes change nothing).
_unsettled: list[tuple[Recorder, str, list[int]]] = []
_unsettled_lock = threading.Lock()


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


def _quiet_now(
    rows: list[ClaimedRow],
) -> tuple[list[ClaimedRow], dict[int, datetime.datetime]]:
    """Split claimed ``rows`` into those to send and those in quiet hours now.

    A row was due when it was queued, but a drain that comes late (a
    backlog, a worker down) may claim it after its recipient's quiet hours
    began: it is held until they end, as at the enqueue, with no attempt
    used. Return the rows to send and ``{row id: release time}`` of the
    others. Nothing is computed when ``SMS_OUTBOX_QUIET_HOURS`` is unset.
    """
    if not get_setting("SMS_OUTBOX_QUIET_HOURS"):
        return rows, {}
    now = timezone.now()
    later = {}
    for row in rows:
        release = release_time(
            row.recipient, row.kind, now, row.reference, row.time_zone
        )
        if release > now:
            later[row.id] = release
    if not later:
        return rows, {}
    logger.info(
        "Held %d SMS whose recipients' quiet hours began while they waited; "
        "each goes out when its window ends.",
        len(later),
    )
    return [row for row in rows if row.id not in later], later


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
