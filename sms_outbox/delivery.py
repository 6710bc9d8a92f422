"""Send one claimed row through a delivering backend and classify what happened.

This is the one place that decides when an SMS counts as sent: as soon as the
backend returns without recording an error for the row's recipient. Nothing
after that point (a ``post_send`` receiver that raises, bookkeeping, a lost
lease) can turn the row back into one that is sent again.
"""

from __future__ import annotations

import logging
import time
import traceback

from django.core.exceptions import ImproperlyConfigured

from sms.backends.base import BaseSmsBackend
from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    SmsError,
    SmsSendError,
)
from sms.message import Message as SmsMessage
from sms.phone import mask_phone_number
from sms.recipients import recipients_checked
from sms.signals import post_send
from sms_outbox.claims import ClaimedRow
from sms_outbox.enforcement import note_provider_opt_out
from sms_outbox.models import Attempt
from sms_outbox.results import Outcome

logger = logging.getLogger(__name__)


class StopDraining(Exception):
    """An account or configuration error: nothing can be sent until it is fixed."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def deliver(backend: BaseSmsBackend, row: ClaimedRow) -> Outcome:
    """Send ``row`` as a one-recipient ``sms.Message`` over ``backend``.

    Return what happened to it. Raise ``StopDraining`` when an account or
    configuration error means nothing can be sent until someone fixes it.
    Only the four documented attributes of a result are read (``recipient``,
    ``message_id``, ``status``, ``error``), so a custom backend's own result
    objects work. ``post_send`` fires once the provider accepted the message,
    through ``send_robust``: a receiver that raises is logged and the row
    stays sent.
    """
    message = SmsMessage(row.body, row.originator, [row.recipient], backend)
    message.reference = row.reference
    started = time.perf_counter()
    try:
        message.check_length()
        # The drain checked the claim's numbers against opt-outs already.
        with recipients_checked():
            backend.send_messages([message])
    except (ProviderAccountError, ImproperlyConfigured) as err:
        logger.error("Stopping the outbox drain: %s", _masked(str(err), row))
        raise StopDraining(err) from err
    except SmsError as err:
        return _failure(row, err, started)
    except Exception as err:  # noqa: BLE001
        # A backend bug or an unmapped transport error must not stop the other
        # rows: log it and retry this one later (the provider may have it).
        logger.error(
            "Unexpected error sending an outbox SMS to %s:\n%s",
            mask_phone_number(row.recipient),
            _masked_traceback(err, row),
        )
        return _outcome(row, Attempt.Outcome.UNKNOWN, started, err)
    results = getattr(message, "results", None) or []
    error = getattr(results[0], "error", None) if results else None
    if error is not None:
        if isinstance(error, ProviderAccountError):
            logger.error("Stopping the outbox drain: %s", _masked(str(error), row))
            raise StopDraining(error)
        return _failure(row, error, started)
    message_id = getattr(results[0], "message_id", None) if results else None
    outcome = Outcome(
        row,
        Attempt.Outcome.SENT,
        message_id=str(message_id or ""),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    _announce(message, row)
    return outcome


def _announce(message: SmsMessage, row: ClaimedRow) -> None:
    """Fire ``post_send`` for a delivered message; log what receivers raise."""
    for receiver, response in post_send.send_robust(
        sender=SmsMessage, instance=message
    ):
        if isinstance(response, Exception):
            logger.error(
                "A post_send receiver (%s) raised for the outbox SMS to %s; the "
                "SMS was sent and stays sent:\n%s",
                getattr(receiver, "__qualname__", receiver),
                mask_phone_number(row.recipient),
                _masked_traceback(response, row),
            )


def _failure(row: ClaimedRow, err: Exception, started: float) -> Outcome:
    note_provider_opt_out(row.recipient, err)  # RecipientOptedOut: suppress it
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


def _masked(text: str, row: ClaimedRow) -> str:
    """Return ``text`` with the row's number masked, as the logs show numbers."""
    number = row.recipient
    masked = mask_phone_number(number)
    text = text.replace(number, masked)
    return text.replace(number.lstrip("+"), masked.lstrip("+"))


def _masked_traceback(err: BaseException, row: ClaimedRow) -> str:
    """Return the traceback of ``err`` and its causes with the number masked."""
    lines = traceback.format_exception(type(err), err, err.__traceback__)
    return _masked("".join(lines), row).rstrip()
