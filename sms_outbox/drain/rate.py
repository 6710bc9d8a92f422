"""The send rate of a provider account: site-wide slots, and the provider's 429s obeyed.

``SMS_OUTBOX_RATE`` caps the messages per second of the account behind
``SMS_OUTBOX_BACKEND`` (and of each sending number, where the provider limits
numbers one by one). The cap holds for the whole site: every drain process,
on every host, reserves its send slots from one row per account in the
``SendRate`` table, with a conditional UPDATE (compare and set) that needs no
lock and works on every database. A drain reserves a few slots at a time, so
the table sees a handful of writes per second, not one per SMS.

A throttling answer (``ProviderThrottled``: HTTP 429, Vonage's "Throttled",
SNS's ``Throttling``) slows the whole connection: no call starts before its
``Retry-After`` has passed (an exponential back-off when it gave none), every
drain of the site waits with it when a rate is set, and the drain's own rate
drops below what it was sending, then climbs back a little every second
without a throttling answer (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Mapping
from typing import NamedTuple

from django.db import router

from sms.exceptions import SmsConfigurationError
from sms_outbox.conf import get_setting
from sms_outbox.models import SendRate
from sms_outbox.sql import retry_when_locked

logger = logging.getLogger(__name__)

#: A drain reserves about this many seconds of slots at once.
RESERVE_SECONDS = 0.05
#: After a throttling answer the drain's rate drops to this share of the rate
#: it was throttled at (its ceiling), climbs back by ``RECOVERY`` of it each
#: quiet second up to ``HOLD`` of it, stays there, and tries ``PROBE`` above
#: the ceiling after ``PROBE_AFTER`` quiet seconds.
DECREASE = 0.85
RECOVERY = 0.05
HOLD = 0.95
PROBE = 1.05
PROBE_AFTER = 30.0
#: The longest pause after throttling answers that gave no ``Retry-After``.
MAX_BACKOFF = 60.0
#: The window over which the drain measures the rate it sends at.
_WINDOW = 2.0


class Rate(NamedTuple):
    """Messages per second for the account and for each sender (None: no cap)."""

    account: float | None
    sender: float | None


def read_rate(rate: float | None = None) -> Rate:
    """Return ``SMS_OUTBOX_RATE``; an explicit ``rate`` replaces its account cap.

    The setting is a number (the account's messages per second), or a dict
    with ``"account"`` and ``"sender"`` (each sending number's), or None.
    """
    value = get_setting("SMS_OUTBOX_RATE")
    if isinstance(value, Mapping):
        unknown = set(value) - {"account", "sender"}
        if unknown:
            raise SmsConfigurationError(
                f"SMS_OUTBOX_RATE has unknown keys {sorted(unknown)}: use "
                '{"account": <per second>, "sender": <per second>}, either '
                "optional."
            )
        found = Rate(
            _positive(value.get("account"), "account"),
            _positive(value.get("sender"), "sender"),
        )
    else:
        found = Rate(_positive(value, None), None)
    if rate is not None:
        found = found._replace(account=_positive(rate, None))
    return found


def _positive(value: object, key: str | None) -> float | None:
    """Return ``value`` as a rate per second, or raise a clear error."""
    if value is None:
        return None
    where = f'SMS_OUTBOX_RATE["{key}"]' if key else "SMS_OUTBOX_RATE"
    if isinstance(value, str):  # from the environment
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SmsConfigurationError(
            f"{where} is {value!r}: set it to the messages per second the "
            "provider allows (a number greater than 0), or None for no cap."
        )
    return float(value)


def reserve(key: str, interval: float, count: int, not_before: float = 0.0) -> float:
    """Reserve ``count`` send slots ``interval`` apart for ``key``; return the first.

    The slots are the site's: no other drain gets them. The first slot is
    never before now nor ``not_before`` (a Unix time). ``count=0`` reserves
    nothing but pushes the next free slot to ``not_before`` (a pause).
    """
    return retry_when_locked(_reserve, key, interval, count, not_before)


def _reserve(key: str, interval: float, count: int, not_before: float) -> float:
    rates = SendRate.objects.using(router.db_for_write(SendRate))
    while True:
        current = rates.filter(key=key).values_list("next_at", flat=True).first()
        if current is None:
            rates.bulk_create([SendRate(key=key, next_at=0.0)], ignore_conflicts=True)
            continue
        start = max(current, time.time(), not_before)
        new = start + interval * count
        # Compare and set: another drain that moved the slot first wins, and
        # this one reads again.
        if rates.filter(key=key, next_at=current).update(next_at=new):
            return start


def account_key(path: str) -> str:
    """Return the ``SendRate`` key of the account behind backend ``path``."""
    return path[:200]


class Pacer:
    """When a drain's next provider call may start.

    Used by one thread (the drain's coordinator). ``account_slot()`` and
    ``sender_slot()`` reserve slots and return the Unix time a call may
    start; ``sent()`` and ``throttled()`` feed the adaptive rate.
    """

    def __init__(self, path: str, rate: float | None, in_flight: int) -> None:
        self.limits = read_rate(rate)
        self.key = account_key(path)
        self.in_flight = in_flight
        #: The drain's own cap after throttling answers (None: none).
        self.adaptive: float | None = None
        #: No call starts before this Unix time (a provider's Retry-After).
        self.resume_at = 0.0
        self.throttled_count = 0
        self._slots: collections.deque[float] = collections.deque()
        self._local_next = 0.0
        self._sender_next: dict[str, float] = {}
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._started = time.monotonic()
        self._changed = 0.0
        #: The rate the last throttling answer came at.
        self.ceiling = math.inf
        self._streak = 0
        self._last_event = -math.inf

    def rate(self) -> float | None:
        """Return the messages per second this drain may send now (None: any)."""
        caps = [r for r in (self.limits.account, self.adaptive) if r is not None]
        return min(caps) if caps else None

    def sender_free_at(self, sender: str) -> float:
        """Return the Unix time from which ``sender`` may send, as far as known."""
        return self._sender_next.get(sender, 0.0) if self.limits.sender else 0.0

    def sender_slot(self, sender: str) -> float:
        """Reserve the next slot of ``sender``; return its Unix time."""
        rate = self.limits.sender
        if rate is None:
            return 0.0
        slot = reserve(f"{self.key}|{sender}", 1 / rate, 1, self.resume_at)
        self._sender_next[sender] = slot + 1 / rate
        return slot

    def account_slot(self, count: int) -> float:
        """Reserve slots for a call of ``count`` messages; return when it may go."""
        rate = self.rate()
        now = time.time()
        if rate is None:
            return max(now, self.resume_at)
        interval = 1 / rate
        if self.limits.account is None:
            # Only the drain's own adaptive cap: nothing to share.
            slot = max(self._local_next, now, self.resume_at)
            self._local_next = slot + interval * count
            return slot
        # Slots from before a pause are lost, and so are slots this drain came
        # too late for: sending them now would crowd the slots of the others.
        stale = max(self.resume_at, now - 2 * interval)
        while self._slots and self._slots[0] < stale:
            self._slots.popleft()
        if len(self._slots) < count:
            block = max(count, min(self.in_flight, math.ceil(rate * RESERVE_SECONDS)))
            first = reserve(self.key, interval, block, self.resume_at)
            self._slots.extend(first + n * interval for n in range(block))
        slot = self._slots[0]
        for _ in range(count):
            self._slots.popleft()
        return slot

    def sent(self, count: int) -> None:
        """Note a call of ``count`` messages that started now; recover the rate."""
        now = time.monotonic()
        self._sent.append((now, count))
        while self._sent and self._sent[0][0] < now - _WINDOW:
            self._sent.popleft()
        if self.adaptive is None or now - self._changed < 1.0:
            return
        hold = HOLD * self.ceiling
        if self.adaptive < hold:
            self._changed = now
            self.adaptive = min(hold, self.adaptive + max(1.0, self.ceiling * RECOVERY))
        elif now - self._last_event >= PROBE_AFTER and now - self._changed >= 1.0:
            self._changed = self._last_event = now
            self.ceiling *= PROBE
            self.adaptive = HOLD * self.ceiling
        account = self.limits.account
        if account is not None and self.adaptive >= account:
            self.adaptive = None  # back to the rate set for the account

    def measured(self) -> float:
        """Return the messages per second this drain started over the last seconds."""
        seconds = min(_WINDOW, max(time.monotonic() - self._started, 0.1))
        return sum(count for _, count in self._sent) / seconds

    def throttled(self, retry_after: float | None, started: float) -> None:
        """Slow down after a throttling answer to a call that started at ``started``.

        ``started`` is a ``time.monotonic()`` value: answers to calls that
        started before the last slow-down belong to it and only extend the
        pause. The pause is the provider's ``Retry-After``, else a back-off
        that doubles while throttling answers keep coming.
        """
        now = time.monotonic()
        self.throttled_count += 1
        new_event = started >= self._changed or self.adaptive is None
        if new_event:
            self._streak = self._streak + 1 if now - self._last_event < 10 else 1
            self._last_event = now
            # A shared rate slows the whole site: its figure drops. Without
            # one, this drain drops below what it was sending.
            current = self.rate()
            if current is None or self.limits.account is None:
                current = min(current or math.inf, self.measured())
            self.ceiling = max(0.5, current)
            self.adaptive = DECREASE * self.ceiling
            logger.info(
                "The provider throttled the outbox drain at %.0f SMS/s: slowing "
                "to %.0f SMS/s after a pause of %s s.",
                current,
                self.adaptive,
                "?" if retry_after is None else f"{retry_after:g}",
            )
            self._changed = now
        wait = retry_after
        if wait is None:
            wait = min(MAX_BACKOFF, 0.25 * 2 ** (self._streak - 1))
        resume = time.time() + wait
        if resume > self.resume_at:
            self.resume_at = resume
            if self.limits.account is not None:
                reserve(self.key, 0.0, 0, resume)  # every drain of the site waits
