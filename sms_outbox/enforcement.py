"""Where sends meet the suppression list: at queue time, at send time, and after.

``QueuedSmsBackend`` drops opted-out recipients before its INSERT, the drain
fails opted-out rows of a claim without a provider call, a provider's own
opt-out error puts the number on the list, and direct provider sends ask
``check_recipients()`` through ``sms.recipients``. Each costs one indexed
query per batch of numbers, and none with ``SMS_OUTBOX_ENFORCE_OPT_OUT`` off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import DatabaseError

from sms.exceptions import RecipientOptedOut, SmsSendError
from sms.message import RecipientResult
from sms.phone import mask_phone_number
from sms_outbox.models import Attempt, Suppression
from sms_outbox.suppression import enforced_among, suppress

if TYPE_CHECKING:
    import uuid

    from sms.message import Message as SmsMessage
    from sms_outbox.claims import ClaimedRow
    from sms_outbox.models import Message as OutboxMessage
    from sms_outbox.results import AttemptResult

logger = logging.getLogger(__name__)

__all__ = [
    "OPTED_OUT",
    "check_recipients",
    "drop_opted_out",
    "note_provider_opt_out",
    "refuse_opted_out",
]

#: ``error_code`` of the rows the drain fails because their number opted out.
OPTED_OUT = "opted_out"


def opted_out_error(number: str) -> RecipientOptedOut:
    """Return the error for a send to ``number``, which is on the list."""
    return RecipientOptedOut(
        f"{mask_phone_number(number)} opted out: the number is on the suppression "
        "list (it replied STOP, or a provider refused it as unsubscribed). Remove "
        "it from the list only if it opts in again (replies START).",
        code=OPTED_OUT,
        recipient=mask_phone_number(number),
    )


def check_recipients(numbers: list[str]) -> dict[str, SmsSendError]:
    """Return the opted-out numbers among ``numbers``, each with its error.

    Registered with ``sms.recipients`` so provider backends used directly
    refuse them too.
    """
    return {number: opted_out_error(number) for number in enforced_among(numbers)}


def drop_opted_out(
    rows: list[OutboxMessage], messages: list[SmsMessage], fail_silently: bool
) -> tuple[list[OutboxMessage], list[SmsMessage]]:
    """Return ``rows`` and ``messages`` without the opted-out recipients.

    ``rows`` are the outbox rows about to be inserted, grouped by message in
    the order of ``messages`` (the messages that have rows). One query for all
    of them. Raise ``RecipientOptedOut`` for the first opted-out recipient,
    or under ``fail_silently`` skip it: log it masked, record the error on its
    message's ``results`` and keep the message's other recipients.
    """
    refused = enforced_among(row.recipient for row in rows)
    if not refused:
        return rows, messages
    if not fail_silently:
        first = next(row.recipient for row in rows if row.recipient in refused)
        raise opted_out_error(first)
    kept_rows, kept_messages = [], []
    batches: dict[uuid.UUID, list[OutboxMessage]] = {}
    for row in rows:
        batches.setdefault(row.batch_id, []).append(row)
    for message, batch in zip(messages, batches.values(), strict=True):
        for row in batch:
            if row.recipient in refused:
                logger.warning(
                    "Not queueing an SMS to %s: the number opted out.",
                    mask_phone_number(row.recipient),
                )
                _record_refusal(message, row.recipient)
            else:
                kept_rows.append(row)
        if any(row.recipient not in refused for row in batch):
            kept_messages.append(message)
    return kept_rows, kept_messages


def _record_refusal(message: SmsMessage, number: str) -> None:
    error = opted_out_error(number)
    message.results = [
        RecipientResult(number, status="opted_out", error=error)
        if result.recipient == number and result.error is None
        else result
        for result in message.results
    ]


def refuse_opted_out(
    rows: list[ClaimedRow],
) -> tuple[list[ClaimedRow], list[AttemptResult]]:
    """Split a drain's claimed ``rows`` into those to send and failed outcomes.

    One query for the whole claim. A row whose number opted out while it
    waited gets a ``failed`` outcome saying so, and no provider call.
    """
    from sms_outbox.results import AttemptResult

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


def note_provider_opt_out(number: str, error: Exception) -> None:
    """Put ``number`` on the list after a provider refused it as opted out.

    A database error is logged, not raised: the send's own result must still
    be recorded, and the provider will refuse the next send the same way.
    """
    if not isinstance(error, RecipientOptedOut):
        return
    code = getattr(error, "code", None)
    provider = getattr(error, "provider", None) or "the provider"
    reason = f"{provider} refused it as opted out" + (f" (code {code})" if code else "")
    try:
        suppress(number, reason, Suppression.Source.PROVIDER)
    except (DatabaseError, ValueError) as err:
        logger.error(
            "Could not add %s to the suppression list after %s: %s",
            mask_phone_number(number),
            reason,
            err,
        )
