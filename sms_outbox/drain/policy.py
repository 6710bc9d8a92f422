"""The retry policy: what happens to an outbox row after one try at sending it.

Every decision about retries lives here. A provider error says whether trying
again can help (``SmsSendError.retryable``); this module turns that into the
kind of attempt logged, the row's next status, and when it is due again:

- sent: the row is ``sent``, for good.
- failed (an error retrying cannot fix, such as an invalid number): ``failed``.
- retry (a retryable error) or unknown (the provider may have it: a timeout,
  an unexpected error, a worker that died holding the row): ``queued`` again
  after an exponential back-off with jitter, until the row's attempts reach
  ``SMS_OUTBOX_MAX_ATTEMPTS``; then ``failed``.

Account and configuration errors are not a row's outcome at all: they stop
the drain (``stops_drain``) and the row goes back unchanged. A row past its
time to live is ``expired``, for good (``sms_outbox.expiry``), and a row put
back for a retry is not due inside its quiet hours (``sms_outbox.schedule``).
"""

from __future__ import annotations

import datetime
import random
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    ProviderUnavailable,
    SmsError,
    SmsSendError,
)
from sms_outbox.conf import get_setting
from sms_outbox.models import Attempt, Message
from sms_outbox.schedule import Scheduled, release_time

SENT = Attempt.Outcome.SENT
RETRY = Attempt.Outcome.RETRY
FAILED = Attempt.Outcome.FAILED
UNKNOWN = Attempt.Outcome.UNKNOWN
EXPIRED = Attempt.Outcome.EXPIRED


class Decision(NamedTuple):
    """What a try does to its row: the status, the attempt logged, the delay.

    ``delay`` is the seconds until the row is due again (None unless queued).
    """

    status: str
    logged: str
    delay: float | None

    @property
    def final(self) -> bool:
        """Return True when the row is finished (sent or failed) for good."""
        return self.status != Message.Status.QUEUED

    @property
    def gave_up(self) -> bool:
        """Return True when the row failed or expired for good."""
        return self.status in (Message.Status.FAILED, Message.Status.EXPIRED)


#: Every sent row's decision: one instance, as a sent row's never varies.
_SENT = Decision(Message.Status.SENT, SENT, None)


def stops_drain(error: BaseException) -> bool:
    """Return True when ``error`` means nothing can be sent until someone acts."""
    return isinstance(error, (ProviderAccountError, ImproperlyConfigured))


def provider_took(error: BaseException | None) -> bool | None:
    """Return whether the provider took the SMS a try ended with ``error``.

    True: it did, or refused it for the recipient's sake (an invalid or
    opted-out number, a blocked destination: any provider would). False: it
    did not take it (no connection, a timeout before the request was sent, a
    5xx, a 429, a suspended account), so another provider may send it with no
    risk of a duplicate. None: it may have (a timeout after the request was
    sent, an unexpected error). Routing fails over on False, and on None only
    where the route opts in (``sms_outbox.routing.next_alias()``).
    """
    if error is None:
        return True
    if isinstance(error, OutcomeUnknown) or not isinstance(error, SmsError):
        return None
    if isinstance(error, ProviderAccountError | ProviderUnavailable):
        return False
    return True


def classify(error: BaseException | None) -> str:
    """Return the kind of attempt a try that ended in ``error`` was.

    ``None`` is a send; an error the provider might still have acted on (a
    timeout, or anything that is not an ``SmsError``: a backend bug, an
    unmapped transport error) is unknown; a retryable ``SmsSendError`` is a
    retry; any other ``SmsError`` failed.
    """
    if error is None:
        return SENT
    if isinstance(error, OutcomeUnknown) or not isinstance(error, SmsError):
        return UNKNOWN
    if isinstance(error, SmsSendError) and error.retryable:
        return RETRY
    return FAILED


def decide(kind: str, attempts: int, row: Scheduled | None = None) -> Decision:
    """Return what a try of kind ``kind`` does to a row tried ``attempts`` times.

    ``attempts`` counts the tries before this one. With ``row``, a retry that
    would fall inside the row's quiet hours waits until they end.
    """
    if kind == SENT:
        return _SENT
    if kind == EXPIRED:
        return Decision(Message.Status.EXPIRED, EXPIRED, None)
    if kind == FAILED or attempts + 1 >= int(get_setting("SMS_OUTBOX_MAX_ATTEMPTS")):
        # A retry that used the last attempt is logged as the failure it is;
        # an unknown one stays unknown (the provider may have the SMS).
        return Decision(
            Message.Status.FAILED, UNKNOWN if kind == UNKNOWN else FAILED, None
        )
    delay = retry_delay(attempts + 1)
    if row is not None:
        delay = _outside_quiet_hours(row, delay)
    return Decision(Message.Status.QUEUED, kind, delay)


def _outside_quiet_hours(row: Scheduled, delay: float) -> float:
    """Return ``delay``, or the seconds until the quiet hours it falls in end."""
    now = timezone.now()
    due = now + datetime.timedelta(seconds=delay)
    release = release_time(row.recipient, row.kind, due, row.reference, row.time_zone)
    return delay if release == due else (release - now).total_seconds()


def retry_delay(attempts: int) -> float:
    """Return seconds to wait before attempt ``attempts + 1``.

    Exponential from ``SMS_OUTBOX_RETRY_DELAY``, capped at
    ``SMS_OUTBOX_RETRY_MAX_DELAY``, with jitter (half the delay is random) so
    rows that failed together do not all come back together.
    """
    base = float(get_setting("SMS_OUTBOX_RETRY_DELAY"))
    cap = float(get_setting("SMS_OUTBOX_RETRY_MAX_DELAY"))
    delay: float = min(cap, base * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)
