"""The state one drain shares across its threads: limit, rate, stop and counts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sms.phone import mask_phone_number
from sms_outbox.results import AttemptResult

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
