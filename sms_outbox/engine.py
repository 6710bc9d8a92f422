"""Deliver the outbox: ``send_queued()`` drains it; admin actions and the purge."""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

import sms
from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError
from sms.phone import mask_phone_number
from sms_outbox.backends import get_delivery_backend_path
from sms_outbox.claims import Claim, claim_rows, release_rows, requeue_expired
from sms_outbox.delivery import StopDraining, deliver
from sms_outbox.enforcement import refuse_opted_out
from sms_outbox.models import Attempt, Message
from sms_outbox.results import Outcome, Recorder
from sms_outbox.sql import outbox_alias

logger = logging.getLogger(__name__)

__all__ = [
    "DrainResult",
    "cancel",
    "purge",
    "resend",
    "retry_now",
    "send_queued",
]

DEFAULT_BATCH_SIZE = 500
# A claim is sized so that sending it takes about this long (and never more
# than a quarter of the lease), so rows do not outlive their lease in hand.
_BATCH_SECONDS = 2.0
_FIRST_BATCH = 50
# A run tries each row once: rows it put back for a retry are skipped by its
# later claims. Past this many such rows (a provider outage) the run ends.
_MAX_RETRIED_PER_RUN = 500
#: Seconds of lease a drain keeps in hand beyond ``SMS_TIMEOUT`` before it
#: starts a provider call: enough to record the result before the lease ends.
LEASE_MARGIN = 1.0

# Results and releases a run could not write because the database went away,
# kept for the next run in this process to write (their claims' leases may
# still hold; if not, the fenced writes change nothing).
_unsettled: list[tuple[Recorder, str, list[int]]] = []
_unsettled_lock = threading.Lock()


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


class _Run:
    """State the worker threads of one run share: limit, rate, stop, counts."""

    def __init__(self, limit, rate, stop, progress, guard):
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
        with self.lock:
            if self.remaining is not None:
                self.remaining += count

    def throttle(self) -> None:
        """Sleep until the next send slot allowed by ``rate``."""
        if not self.interval:
            return
        with self.lock:
            slot = max(self.next_slot, time.monotonic())
            self.next_slot = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)

    def should_stop(self) -> bool:
        return (
            self.stop.is_set()
            or self.result.error is not None
            or self.failure is not None
            or len(self.retried) > _MAX_RETRIED_PER_RUN
        )

    def fail(self, error: BaseException, account: bool = False) -> None:
        """Stop every thread: ``account`` errors go in the result, others raise."""
        with self.lock:
            if account:
                self.result.error = self.result.error or error  # type: ignore
            else:
                self.failure = self.failure or error

    def count(self, recorder: Recorder, outcome: Outcome) -> None:
        with self.lock:
            if outcome.kind == Attempt.Outcome.SENT:
                self.result.sent += 1
            elif recorder.is_final_failure(outcome):
                self.result.failed += 1
                logger.warning(
                    "Outbox SMS %d to %s failed for good after %d attempt(s): %s%s",
                    outcome.row.id,
                    mask_phone_number(outcome.row.recipient),
                    outcome.row.attempts + 1,
                    outcome.error_text.split(":", 1)[0],
                    f" (code {outcome.error_code})" if outcome.error_code else "",
                )
            else:
                self.result.retrying += 1
                self.retried.add(outcome.row.id)


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
    run = _Run(limit, rate, stop, progress, _lease_guard())
    # Construct every connection before claiming, so bad credentials or a
    # missing SDK raise before any row changes.
    backends = [sms.get_connection(path) for _ in range(max(1, concurrency))]
    _settle_unsettled()
    requeue_expired()
    if len(backends) == 1:
        _work(run, backends[0], path, batch_size)
    else:
        threads = [
            threading.Thread(
                target=_work_in_thread, args=(run, backend, path, batch_size)
            )
            for backend in backends
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            # join() with a timeout keeps the main thread able to run signal
            # handlers (SIGTERM sets ``stop``).
            while thread.is_alive():
                thread.join(0.2)
    if run.failure is not None:
        raise run.failure
    result = run.result
    result.seconds = time.monotonic() - started
    _log_run(result)
    return result


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


def _work_in_thread(run, backend, path, batch_size):
    try:
        _work(run, backend, path, batch_size)
    except BaseException as err:  # noqa: BLE001 - re-raised by send_queued()
        run.fail(err)
    finally:
        connections.close_all()


def _work(run: _Run, backend: BaseSmsBackend, path: str, batch_size: int) -> None:
    """Claim, send and record batches until the queue, the limit or the run ends."""
    lease_seconds = float(get_setting("SMS_OUTBOX_LEASE_SECONDS"))
    target = min(_BATCH_SECONDS, lease_seconds / 4)
    size = min(_FIRST_BATCH, batch_size)
    try:
        backend.open()
        while not run.should_stop():
            if run.interval:
                # Under --rate, never claim more than can go out in time.
                size = min(size, max(1, int(target / run.interval)))
            wanted = run.take(size)
            if not wanted:
                break
            with run.lock:
                skip = frozenset(run.retried)
            claim = claim_rows(wanted, skip)
            run.give_back(wanted - len(claim.rows))
            if not claim.rows:
                break
            batch_started = time.monotonic()
            tried = _send_claim(run, backend, Recorder(path, claim.token), claim)
            if tried:
                per_message = (time.monotonic() - batch_started) / tried
                size = max(1, min(batch_size, int(target / max(per_message, 1e-6))))
    finally:
        backend.close()
        if run.progress:
            run.progress(run.result)


def _send_claim(run: _Run, backend, recorder: Recorder, claim: Claim) -> int:
    """Send the rows of ``claim`` while it holds them; return how many were tried.

    Before each provider call the claim must have more than ``SMS_TIMEOUT``
    (plus a margin) of lease left; if not, the results so far are written and
    the lease of the rows still to send is renewed in one UPDATE, keeping only
    as many as the current pace can send within one lease (the rest go back
    to the queue for other workers). Rows a stop, an account error or an
    interruption left unsent go back to the queue at once. Rows whose number
    opted out since it was queued fail without a provider call.
    """
    rows = claim.rows
    tried = 0
    started = time.monotonic()
    try:
        # Opt-outs since queueing: one query per claim; those rows fail unsent.
        rows, refused = refuse_opted_out(rows)
        for outcome in refused:
            run.count(recorder, outcome)
            recorder.add(outcome)
        while tried < len(rows) and not run.should_stop():
            run.throttle()
            if claim.time_left() <= run.guard:
                recorder.flush()
                keep = _rows_per_lease(run, started, tried)
                release_rows(claim.token, [row.id for row in rows[tried + keep :]])
                held = rows[:tried] + claim.renew(rows[tried : tried + keep])
                run.give_back(len(rows) - len(held))
                rows = held
                continue
            try:
                outcome = deliver(backend, rows[tried])
            except StopDraining as stop:
                run.fail(stop.error, account=True)
                break
            tried += 1
            run.count(recorder, outcome)
            if recorder.add(outcome) and run.progress:
                run.progress(run.result)
    finally:
        _settle(recorder, claim.token, [row.id for row in rows[tried:]])
    return tried


def _rows_per_lease(run: _Run, started: float, tried: int) -> int:
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


def _settle_unsettled() -> None:
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


def resend(queryset: QuerySet[Message]) -> int:
    """Queue a new copy of each sent, failed or cancelled row; return how many.

    The originals and their attempt logs stay as they are.
    """
    now = timezone.now()
    copies = [
        Message(
            batch_id=row.batch_id,
            body=row.body,
            originator=row.originator,
            recipient=row.recipient,
            priority=row.priority,
            next_attempt_at=now,
            reference=uuid.uuid4().hex,
        )
        for row in queryset.final().only(
            "batch_id", "body", "originator", "recipient", "priority"
        )
    ]
    Message.objects.bulk_create(copies)
    return len(copies)


def cancel(queryset: QuerySet[Message]) -> int:
    """Cancel the queued rows of ``queryset``; return how many were cancelled."""
    now = timezone.now()
    return queryset.queued().update(
        status=Message.Status.CANCELLED,
        finished_at=now,
        updated_at=now,
    )


def retry_now(queryset: QuerySet[Message]) -> int:
    """Make failed rows, and queued rows waiting for a retry, due now.

    Attempts are kept. Return the number of rows changed.
    """
    now = timezone.now()
    return queryset.filter(
        Q(status=Message.Status.FAILED)
        | Q(status=Message.Status.QUEUED, attempts__gt=0)
    ).update(
        status=Message.Status.QUEUED,
        next_attempt_at=now,
        finished_at=None,
        updated_at=now,
    )


def purge(days: int, batch_size: int = 500) -> int:
    """Delete final rows that reached their state over ``days`` days ago.

    Their attempt logs go with them. Queued and sending rows are never
    deleted. Work in batches to keep each transaction short; return the
    number of rows deleted.
    """
    cutoff = timezone.now() - datetime.timedelta(days=days)
    using = outbox_alias()
    old = Message.objects.using(using).final().filter(finished_at__lt=cutoff)
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic(using=using):
            Attempt.objects.using(using).filter(message_id__in=ids).delete()
            deleted += (
                Message.objects.using(using)
                .filter(pk__in=ids)
                .delete()[1]
                .get(Message._meta.label, 0)
            )
    return deleted
