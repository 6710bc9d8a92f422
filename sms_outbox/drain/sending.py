"""One provider call: send claimed rows through the backend, one result per row.

``send_rows()`` runs on the drain's caller threads and touches no database:
what follows a call (announcing sends, noting a provider's opt-out, writing
results) happens on the drain's own thread (``announce()``, ``run.py``).
"""

from __future__ import annotations

import logging
import time
import traceback

from sms.backends.base import BaseSmsBackend
from sms.exceptions import ProviderThrottled, SmsError
from sms.message import Message as SmsMessage
from sms.message import RecipientResult
from sms.phone import mask_phone_number
from sms.recipients import recipients_checked
from sms.signals import post_send
from sms_outbox.drain.claims import ClaimedRow
from sms_outbox.drain.policy import EXPIRED, FAILED, SENT, classify, stops_drain
from sms_outbox.drain.results import AttemptResult
from sms_outbox.expiry import EXPIRED_TEXT, split_expired
from sms_outbox.optout import note_provider_opt_out

logger = logging.getLogger(__name__)


class StopDraining(Exception):
    """An account or configuration error: nothing can be sent until it is fixed.

    ``results`` holds the rows of the same provider call that went out before
    the error; the others go back to the queue unchanged.
    """

    def __init__(self, error: Exception, results: list[AttemptResult]) -> None:
        super().__init__(str(error))
        self.error = error
        self.results = results


class GroupRefused(Exception):
    """A provider refused a call of several rows as a whole: nothing went out."""


class Throttled(Exception):
    """The provider asked us to slow down (``ProviderThrottled``).

    ``results`` holds the rows of the call that went out anyway; the others
    were not sent and go back to the drain's queue without using an attempt.
    ``retry_after`` is the seconds the provider asked us to wait, if it said.
    """

    def __init__(self, error: ProviderThrottled, results: list[AttemptResult]) -> None:
        super().__init__(str(error))
        self.error = error
        self.results = results
        self.retry_after = error.retry_after


def send_rows(backend: BaseSmsBackend, rows: list[ClaimedRow]) -> list[AttemptResult]:
    """Send ``rows`` in one ``sms.Message`` over ``backend``; one result per row.

    The rows share a body and originator and go to different numbers (one
    row, usually). The message carries the first row's reference. Only the
    four documented attributes of a backend's results are read
    (``recipient``, ``message_id``, ``status``, ``error``), so a custom
    backend's own result objects work; a sent row's result keeps its answer
    for ``announce()``. Raise ``StopDraining`` when an account or
    configuration error means nothing can be sent until someone fixes it,
    ``Throttled`` when the provider asked us to slow down, and
    ``GroupRefused`` when a call of several rows was refused as a whole for a
    reason retrying cannot fix (one bad number can fail a whole call): send
    those rows one by one.
    """
    rows, late = split_expired(rows)  # never send a row past its time to live
    if late:
        expired = [AttemptResult(row, EXPIRED, error_text=EXPIRED_TEXT) for row in late]
        return expired + (send_rows(backend, rows) if rows else [])
    first = rows[0]
    numbers = [row.recipient for row in rows]
    message = SmsMessage(first.body, first.originator, numbers, backend)
    message.reference = first.reference
    started = time.perf_counter()
    try:
        message.check_length()
        # The drain checked the claim's numbers against opt-outs already.
        with recipients_checked():
            backend.send_messages([message])
    except Exception as err:  # noqa: BLE001 - classified by the retry policy
        if stops_drain(err):
            raise _stop(err, first, []) from err
        if isinstance(err, ProviderThrottled):
            raise Throttled(err, []) from err
        _check_call_wide(rows, err)
        return [_failed_try(row, err, started) for row in rows]
    return _results(rows, _answers(message, rows), started)


def _results(
    rows: list[ClaimedRow],
    answers: list[RecipientResult | None],
    started: float,
) -> list[AttemptResult]:
    """Return one result per row from the backend's answers; announce the sent.

    A row counts as sent here, when its answer carries no error. Raise
    ``GroupRefused`` when one error failed the whole call, ``StopDraining``,
    carrying the rows sent, on an account error, and ``Throttled``, carrying
    the rows sent, when the provider throttled some.
    """
    errors = {id(getattr(answer, "error", None)) for answer in answers}
    if len(errors) == 1 and answers[0] is not None:
        _check_call_wide(rows, getattr(answers[0], "error", None))
    results: list[AttemptResult] = []
    stop: tuple[Exception, ClaimedRow] | None = None
    throttled: ProviderThrottled | None = None
    for row, answer in zip(rows, answers, strict=True):
        error = getattr(answer, "error", None)
        if error is not None and stops_drain(error):
            stop = stop or (error, row)
        elif isinstance(error, ProviderThrottled):
            throttled = throttled or error
        elif error is not None:
            results.append(_failed_try(row, error, started))
        else:
            message_id = str(getattr(answer, "message_id", None) or "")
            elapsed = (time.perf_counter() - started) * 1000
            results.append(
                AttemptResult(row, SENT, message_id, "", "", elapsed, answer=answer)
            )
    if stop is not None:
        raise _stop(*stop, results)
    if throttled is not None:
        raise Throttled(throttled, results)
    return results


def _stop(
    error: Exception, row: ClaimedRow, results: list[AttemptResult]
) -> StopDraining:
    """Log and return the ``StopDraining`` for an account or configuration error."""
    logger.error("Stopping the outbox drain: %s", _masked(str(error), row))
    return StopDraining(error, results)


def _check_call_wide(rows: list[ClaimedRow], error: object) -> None:
    """Raise ``GroupRefused`` if ``error``, met by every row of a call, fails them."""
    if len(rows) > 1 and isinstance(error, Exception) and classify(error) == FAILED:
        raise GroupRefused(str(error))


def _answers(
    message: SmsMessage, rows: list[ClaimedRow]
) -> list[RecipientResult | None]:
    """Return the backend's result for each row's number (None if it kept none).

    A backend that records no results but returned counts every row sent.
    """
    answers = list(getattr(message, "results", None) or [])
    if len(answers) == len(rows):
        return answers
    by_number = {getattr(answer, "recipient", None): answer for answer in answers}
    return [by_number.get(row.recipient) for row in rows]


def announce(backend: BaseSmsBackend, results: list[AttemptResult]) -> None:
    """Fire ``post_send`` once for each sent row of ``results``, sent by ``backend``.

    Each gets a one-recipient message, through ``send_robust``: a receiver
    that raises is logged and the row stays sent. A provider's opt-out error
    puts its number on the suppression list.
    """
    listening = post_send.has_listeners(SmsMessage)
    for result in results:
        if result.error is not None:
            note_provider_opt_out(result.row.recipient, result.error)
        elif listening and result.kind == SENT:
            _announce(backend, result.row, result.answer)


def _announce(
    backend: BaseSmsBackend, row: ClaimedRow, answer: RecipientResult | None
) -> None:
    """Fire ``post_send`` for a delivered row; log what receivers raise."""
    message = SmsMessage(row.body, row.originator, [row.recipient], backend)
    message.reference = row.reference
    message.results = [answer] if answer is not None else []
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


def _failed_try(row: ClaimedRow, err: Exception, started: float) -> AttemptResult:
    """Return the result of a try that raised or recorded ``err``."""
    kind = classify(err)
    if not isinstance(err, SmsError):
        # A backend bug or an unmapped transport error must not stop the other
        # rows: log it and retry this one later (the provider may have it).
        logger.error(
            "Unexpected error sending an outbox SMS to %s:\n%s",
            mask_phone_number(row.recipient),
            _masked_traceback(err, row),
        )
    code = getattr(err, "code", None)
    return AttemptResult(
        row,
        kind,
        error_code="" if code is None else str(code),
        error_text=f"{type(err).__name__}: {err}",
        duration_ms=(time.perf_counter() - started) * 1000,
        error=err,
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
