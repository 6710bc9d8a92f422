"""Deliver the outbox: ``send_queued()`` drains it; admin actions and the purge."""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

import sms
from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms_outbox.backends import get_delivery_backend_path
from sms_outbox.claims import claim_rows, release_rows, requeue_expired
from sms_outbox.delivery import deliver
from sms_outbox.models import Attempt, Message
from sms_outbox.results import Recorder

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
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
    """State the worker threads of one run share: limit, rate, stop flag."""

    def __init__(self, limit, rate, stop, progress, result):
        self.remaining = limit
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = time.monotonic()
        self.stop = stop or threading.Event()
        self.progress = progress
        self.result = result
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
        return self.stop.is_set() or self.result.error is not None

    def count(self, recorder: Recorder, outcome) -> None:
        with self.result.lock:
            if outcome.kind == Attempt.Outcome.SENT:
                self.result.sent += 1
            elif recorder.is_final_failure(outcome):
                self.result.failed += 1
            else:
                self.result.retrying += 1


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
    looping ``SMS_OUTBOX_BACKEND`` raises ``SmsConfigurationError`` at once.
    """
    started = time.monotonic()
    path = get_delivery_backend_path()
    result = DrainResult()
    run = _Run(limit, rate, stop, progress, result)
    # Construct every connection before claiming, so bad credentials or a
    # missing SDK raise before any row changes.
    backends = [sms.get_connection(path) for _ in range(max(1, concurrency))]
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
    result.seconds = time.monotonic() - started
    return result


def _work_in_thread(run, backend, path, batch_size):
    try:
        _work(run, backend, path, batch_size)
    finally:
        connections.close_all()


def _work(run: _Run, backend: BaseSmsBackend, path: str, batch_size: int) -> None:
    """Claim, send and record batches until the queue, the limit or the run ends."""
    recorder = Recorder(path)
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
            claim = claim_rows(wanted)
            run.give_back(wanted - len(claim.rows))
            if not claim.rows:
                break
            batch_started = time.monotonic()
            sent_count = _send_claim(run, backend, recorder, claim)
            if sent_count:
                per_message = (time.monotonic() - batch_started) / sent_count
                size = max(1, min(batch_size, int(target / max(per_message, 1e-6))))
    finally:
        try:
            recorder.flush()
        finally:
            backend.close()
            if run.progress:
                run.progress(run.result)


def _send_claim(run: _Run, backend, recorder: Recorder, claim) -> int:
    """Send the rows of ``claim``; return how many were tried.

    Rows a stop, an account error or an interruption (KeyboardInterrupt in
    code that calls the engine) left unsent go back to the queue at once
    instead of waiting for their lease.
    """
    tried = 0
    try:
        for row in claim.rows:
            if run.should_stop():
                break
            run.throttle()
            outcome, fatal = deliver(backend, row)
            if fatal is not None:
                with run.result.lock:
                    run.result.error = run.result.error or fatal
                break
            tried += 1
            run.count(recorder, outcome)
            if recorder.add(outcome) and run.progress:
                run.progress(run.result)
        else:
            return tried
    except BaseException:
        _give_back(recorder, claim, tried)
        raise
    _give_back(recorder, claim, tried)
    return tried


def _give_back(recorder: Recorder, claim, index: int) -> None:
    recorder.flush()
    release_rows(claim.token, [row.id for row in claim.rows[index:]])


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
    old = Message.objects.final().filter(finished_at__lt=cutoff)
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            Attempt.objects.filter(message_id__in=ids).delete()
            deleted += (
                Message.objects.filter(pk__in=ids)
                .delete()[1]
                .get(Message._meta.label, 0)
            )
    return deleted
