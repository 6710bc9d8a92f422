"""Send one claimed row through a delivering backend and classify what happened."""

from __future__ import annotations

import logging
import time

from django.core.exceptions import ImproperlyConfigured

from sms.backends.base import BaseSmsBackend
from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    SmsError,
    SmsSendError,
)
from sms.message import Message as SmsMessage
from sms.message import send_messages
from sms.phone import mask_phone_number
from sms_outbox.claims import ClaimedRow
from sms_outbox.models import Attempt
from sms_outbox.results import Outcome

logger = logging.getLogger(__name__)


def deliver(
    backend: BaseSmsBackend, row: ClaimedRow
) -> tuple[Outcome | None, Exception | None]:
    """Send ``row`` as a one-recipient ``sms.Message`` over ``backend``.

    Return ``(outcome, None)``, or ``(None, error)`` when an account or
    configuration error means nothing can be sent until someone fixes it.
    ``post_send`` fires (through ``sms.message.send_messages``) when the
    provider accepted the message; it carries the result in ``results``.
    """
    message = SmsMessage(row.body, row.originator, [row.recipient], backend)
    message.reference = row.reference
    started = time.perf_counter()
    try:
        send_messages(backend, [message])
    except (ProviderAccountError, ImproperlyConfigured) as err:
        logger.error("Stopping the outbox drain: %s", err)
        return None, err
    except SmsError as err:
        return _failure(row, err, started), None
    except Exception as err:  # noqa: BLE001
        # A backend bug or an unmapped transport error must not stop the other
        # rows: log it and retry this one later (the provider may have it).
        logger.exception(
            "Unexpected error sending an outbox SMS to %s",
            mask_phone_number(row.recipient),
        )
        return _outcome(row, Attempt.Outcome.UNKNOWN, started, err), None
    result = message.results[0] if message.results else None
    if result is not None and result.error is not None:
        if isinstance(result.error, ProviderAccountError):
            return None, result.error
        return _failure(row, result.error, started), None
    return (
        Outcome(
            row,
            Attempt.Outcome.SENT,
            message_id=(result.message_id or "") if result else "",
            duration_ms=(time.perf_counter() - started) * 1000,
        ),
        None,
    )


def _failure(row: ClaimedRow, err: SmsError, started: float) -> Outcome:
    if isinstance(err, OutcomeUnknown):
        kind = Attempt.Outcome.UNKNOWN
    elif isinstance(err, SmsSendError) and err.retryable:
        kind = Attempt.Outcome.RETRY
    else:
        kind = Attempt.Outcome.FAILED
    return _outcome(row, kind, started, err)


def _outcome(row: ClaimedRow, kind: str, started: float, err: Exception) -> Outcome:
    code = getattr(err, "code", None)
    return Outcome(
        row,
        kind,
        error_code="" if code is None else str(code),
        error_text=f"{type(err).__name__}: {err}",
        duration_ms=(time.perf_counter() - started) * 1000,
    )
