"""Each recipient's ``RecipientResult``, logged and masked: screened out, or sent."""

from __future__ import annotations

import logging

from sms.backends._errors import scrub_exception
from sms.backends._outcomes import Accepted, status_for
from sms.exceptions import InvalidPhoneNumber, RecipientRejected, SmsSendError
from sms.message import RecipientResult
from sms.phone import mask_phone_number, normalize_phone_number
from sms.recipients import refused_recipients

logger = logging.getLogger(__name__)


def accepted(provider: str, recipient: str, outcome: Accepted) -> RecipientResult:
    """Return the result for a recipient the provider took, logged."""
    message_id = outcome.message_id
    logger.info(
        "%s accepted SMS %s for %s",
        provider,
        message_id,
        mask_phone_number(recipient),
    )
    message_id = message_id if isinstance(message_id, str) else None
    status = outcome.status if isinstance(outcome.status, str) else None
    return RecipientResult(recipient, message_id, status or "sent", None)


def failed(recipient: str, error: SmsSendError) -> RecipientResult:
    """Return the result for a recipient the provider did not take, logged."""
    logger.warning("%s", error)
    return RecipientResult(recipient, None, status_for(error), error)


def refused(number: str, error: SmsSendError) -> RecipientResult:
    """Return the result for a number an installed recipient check refused."""
    logger.warning("Not sending to %s: %s", mask_phone_number(number), error)
    return RecipientResult(number, None, "rejected", error)


def invalid(
    provider: str, recipient: str, cause: Exception, code: str, reason: str = ""
) -> RecipientResult:
    """Return the result for a recipient not sent because a check before sending failed.

    ``cause`` (the invalid number, body or originator) is chained, masked.
    """
    masked = mask_phone_number(recipient)
    reason = reason or "it is not a valid phone number"
    error = RecipientRejected(
        f"The SMS to {masked} was not sent: {reason}.",
        provider=provider,
        code=code,
        recipient=masked,
    )
    error.__cause__ = scrub_exception(cause)
    logger.warning("%s", error)
    return RecipientResult(recipient, None, "rejected", error)


def screen(
    provider: str, recipients: list[str]
) -> tuple[list[RecipientResult | None], list[str]]:
    """Check ``recipients`` before any network call.

    Return one slot per recipient (the result of one that may not be sent,
    None for the others) and the normalised numbers to send to, in order.
    """
    results: list[RecipientResult | None] = []
    numbers: list[str] = []
    for recipient in recipients:
        try:
            numbers.append(normalize_phone_number(recipient))
        except InvalidPhoneNumber as err:
            results.append(invalid(provider, recipient, err, "invalid_number"))
        else:
            results.append(None)
    # Numbers an installed app forbids (the outbox's suppression list).
    refused_now = refused_recipients(numbers) if numbers else {}
    if refused_now:
        slots = iter(numbers)
        results = [
            r
            if r is not None or (n := next(slots)) not in refused_now
            else refused(n, refused_now[n])
            for r in results
        ]
        numbers = [n for n in numbers if n not in refused_now]
    return results, numbers
