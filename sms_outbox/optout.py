"""Opt-outs: the suppression list, the keywords that change it, where sends meet it."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, router, transaction

from sms.exceptions import RecipientOptedOut, SmsSendError
from sms.message import RecipientResult
from sms.phone import mask_phone_number, normalize_phone_number
from sms_outbox import sql
from sms_outbox.conf import get_setting
from sms_outbox.models import InboundMessage, Suppression, SuppressionChange
from sms_outbox.sql import Unless

logger = logging.getLogger(__name__)

__all__ = [
    "HELP",
    "OPTED_OUT",
    "OPT_IN",
    "OPT_OUT",
    "apply_keyword",
    "check_recipients",
    "drop_opted_out",
    "enforced_among",
    "is_suppressed",
    "match_keyword",
    "normalize_keyword",
    "note_provider_opt_out",
    "suppress",
    "suppressed_among",
    "unless_opted_out",
    "unsuppress",
    "unsuppress_many",
]

# Stays under every database's limit on query parameters (SQLite: 999 in old
# builds) while keeping a 500-row drain claim to one query.
_CHUNK = 900
_REASON_LENGTH = Suppression._meta.get_field("reason").max_length
# Numbers taken off the list per batch: the change log's INSERT for a batch
# (5 values a row) stays one statement under SQLite's 999 parameters.
_UNSUPPRESS_BATCH = 150


def suppressed_among(numbers: Iterable[str]) -> set[str]:
    """Return the numbers of ``numbers`` (E.164) that are on the list.

    One query per 900 distinct numbers, answered from the unique index alone
    (no table rows are read). The SQL is written out: built by the ORM,
    ``phone_number__in`` prepares every value through the field, which for a
    500-row drain claim cost ten times the lookup itself, in the process that
    sends (on SQLite, the same process that runs the query too).
    """
    wanted = sorted(set(numbers))  # sorted: neighbouring index pages per chunk
    if not wanted:
        return set()
    connection = connections[router.db_for_read(Suppression)]
    # Takes Any: a concrete field's column is set, though typed Optional.
    quote: Callable[[Any], str] = connection.ops.quote_name
    column = quote(Suppression._meta.get_field("phone_number").column)
    select = f"SELECT {column} FROM {quote(Suppression._meta.db_table)} WHERE "
    found: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"{select}{column} IN ({marks})", chunk)
            found.update(number for (number,) in cursor.fetchall())
    return found


def enforced_among(numbers: Iterable[str]) -> set[str]:
    """Return the numbers sends must skip: ``suppressed_among()``, if enforced.

    With ``SMS_OUTBOX_ENFORCE_OPT_OUT`` off this asks the database nothing.
    """
    if not get_setting("SMS_OUTBOX_ENFORCE_OPT_OUT"):
        return set()
    return suppressed_among(numbers)


def is_suppressed(number: str) -> bool:
    """Return True when ``number`` is on the list (whatever the enforcement)."""
    return bool(suppressed_among([normalize_phone_number(number)]))


def suppress(number: str, reason: str, source: str) -> bool:
    """Put ``number`` on the list; return False if it was on it already.

    ``source`` is a ``Suppression.Source`` value. The change is logged with
    its reason and source. Raise ``InvalidPhoneNumber`` for a bad number.
    """
    number = normalize_phone_number(number)
    reason = reason[:_REASON_LENGTH]
    using = router.db_for_write(Suppression)
    with transaction.atomic(using=using):
        # get_or_create() re-reads after an IntegrityError: a concurrent STOP
        # for the same number makes this one a no-op, not an error.
        _, created = Suppression.objects.using(using).get_or_create(
            phone_number=number, defaults={"reason": reason, "source": source}
        )
        if created:
            _log_change(using, number, SuppressionChange.Change.ADDED, reason, source)
    if created:
        logger.info("Suppressed %s (%s): %s", mask_phone_number(number), source, reason)
    return created


def unsuppress(number: str, reason: str, source: str) -> bool:
    """Take ``number`` off the list; return False if it was not on it.

    The change is logged with its reason and source. Raise
    ``InvalidPhoneNumber`` for a bad number.
    """
    return bool(unsuppress_many([number], reason, source))


def unsuppress_many(numbers: Iterable[str], reason: str, source: str) -> int:
    """Take ``numbers`` off the list; return how many were on it.

    Each removal is logged with its reason and source. Three statements per
    batch of 150 numbers (lock the listed ones, delete them, log the
    changes), all in one transaction. Raise
    ``InvalidPhoneNumber`` for a bad number, before anything changes.
    """
    wanted = sorted({normalize_phone_number(number) for number in numbers})
    reason = reason[:_REASON_LENGTH]
    using = router.db_for_write(Suppression)
    listed = Suppression.objects.using(using)
    removed: list[str] = []
    with transaction.atomic(using=using):
        for start in range(0, len(wanted), _UNSUPPRESS_BATCH):
            chunk = wanted[start : start + _UNSUPPRESS_BATCH]
            found = list(
                listed.select_for_update()
                .filter(phone_number__in=chunk)
                .values_list("phone_number", flat=True)
            )
            if not found:
                continue
            # One DELETE: nothing cascades from a Suppression, so Django
            # deletes without selecting the rows first.
            listed.filter(phone_number__in=found).delete()
            SuppressionChange.objects.using(using).bulk_create(
                [
                    SuppressionChange(
                        phone_number=number,
                        change=SuppressionChange.Change.REMOVED,
                        reason=reason,
                        source=source,
                    )
                    for number in found
                ]
            )
            removed.extend(found)
    if len(removed) == 1:
        logger.info(
            "Unsuppressed %s (%s): %s", mask_phone_number(removed[0]), source, reason
        )
    elif removed:
        logger.info("Unsuppressed %d numbers (%s): %s", len(removed), source, reason)
    return len(removed)


def _log_change(using: str, number: str, change: str, reason: str, source: str) -> None:
    SuppressionChange.objects.using(using).create(
        phone_number=number, change=change, reason=reason, source=source
    )


OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"

_SETTINGS = (
    (OPT_OUT, "SMS_OUTBOX_OPT_OUT_KEYWORDS"),
    (OPT_IN, "SMS_OUTBOX_OPT_IN_KEYWORDS"),
    (HELP, "SMS_OUTBOX_HELP_KEYWORDS"),
)


def normalize_keyword(text: str) -> str:
    """Return ``text`` as keywords are compared: one form of what a person typed.

    Unicode NFKC (fullwidth ``ＳＴＯＰ`` is ``STOP``), without format
    characters (zero-width spaces and joiners, byte order marks), case-folded,
    with surrounding white space and trailing punctuation (``Stop.``,
    ``STOP!``) removed.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.casefold().strip()
    while text and unicodedata.category(text[-1]).startswith("P"):
        text = text[:-1].rstrip()
    return text


def get_keywords(name: str) -> frozenset[str]:
    """Return the keywords of setting ``name``, normalised.

    The setting is a list of words, or one string of comma-separated words
    (as an environment variable gives it).
    """
    value = get_setting(name) or ()
    if isinstance(value, str):
        value = value.split(",")
    words = (normalize_keyword(str(word)) for word in value)
    return frozenset(word for word in words if word)


def match_keyword(body: str) -> str:
    """Return ``"opt_out"``, ``"opt_in"``, ``"help"`` or ``""`` for ``body``.

    The whole body must be the keyword, compared after ``normalize_keyword()``:
    "Stop." opts out and "please stop" does not.
    """
    word = normalize_keyword(body)
    if not word:
        return ""
    for action, setting in _SETTINGS:
        if word in get_keywords(setting):
            return action
    return ""


def apply_keyword(message: InboundMessage) -> bool:
    """Suppress or unsuppress the sender of a new inbound opt-out or opt-in.

    Return True if the keyword took effect. The newest keyword wins: when the
    sender's stored keywords include one received later than ``message``
    (by the provider's timestamp, else by arrival), ``message`` came late and
    changes nothing. Ties go to arrival order. Call it in the transaction
    that stored ``message``.
    """
    if message.action not in (OPT_OUT, OPT_IN):
        return False
    reason = f"replied {message.body.strip()[:20]!r} via {message.provider}"
    newer = (
        InboundMessage.objects.using(router.db_for_write(InboundMessage))
        .filter(
            sender=message.sender,
            action__in=(OPT_OUT, OPT_IN),
            received_at__gt=message.received_at,
        )
        .exclude(pk=message.pk)
    )
    if newer.exists():
        logger.info(
            "Ignored the %s keyword of %s stamped %s: a newer keyword decides.",
            message.action,
            mask_phone_number(message.sender),
            message.received_at,
        )
        return False
    if message.action == OPT_OUT:
        suppress(message.sender, reason, Suppression.Source.KEYWORD)
    else:
        unsuppress(message.sender, reason, Suppression.Source.KEYWORD)
    return True


if TYPE_CHECKING:
    import uuid

    from sms.message import Message as SmsMessage
    from sms_outbox.models import Message as OutboxMessage

logger = logging.getLogger(__name__)


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


def unless_opted_out(numbers: list[str]) -> Unless | None:
    """Return the condition that stops an outbox INSERT to ``numbers`` if one opted out.

    The enqueue's INSERT carries it (``sql.insert_rows()``), so storing rows
    and checking the list are one statement. None when opt-outs are not
    enforced. Where the router keeps the list in another database than the
    outbox, the list is asked first, in a query of its own.
    """
    if not get_setting("SMS_OUTBOX_ENFORCE_OPT_OUT"):
        return None
    connection = sql.outbox_connection()
    if router.db_for_write(Suppression) != connection.alias:
        if enforced_among(numbers):
            return sql.Unless("SELECT 1", [])  # refused: the caller asks which
        return None
    quote = connection.ops.quote_name
    field: Any = Suppression._meta.get_field("phone_number")
    table, column = quote(Suppression._meta.db_table), quote(field.column)
    distinct = sorted(set(numbers))
    if connection.vendor == "postgresql":
        return sql.Unless(
            f"SELECT 1 FROM {table} WHERE {column} = "
            f"ANY(%s::{sql.array_type(field, connection)})",
            [sql.literal(distinct)],
        )
    marks = ", ".join(["%s"] * len(distinct))
    return sql.Unless(f"SELECT 1 FROM {table} WHERE {column} IN ({marks})", distinct)


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


def note_provider_opt_out(number: str, error: BaseException) -> None:
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
