"""The suppression list: numbers no SMS may go to, and every change to it.

Lookups take one indexed query for any number of numbers; changes write the
list and its audit trail (``SuppressionChange``) in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections, router, transaction

from sms.conf import get_setting
from sms.phone import mask_phone_number, normalize_phone_number
from sms_outbox.models import Suppression, SuppressionChange

logger = logging.getLogger(__name__)

__all__ = [
    "enforced_among",
    "is_suppressed",
    "suppress",
    "suppressed_among",
    "unsuppress",
]

# Stays under every database's limit on query parameters (SQLite: 999 in old
# builds) while keeping a 500-row drain claim to one query.
_CHUNK = 900
_REASON_LENGTH = Suppression._meta.get_field("reason").max_length


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
    number = normalize_phone_number(number)
    reason = reason[:_REASON_LENGTH]
    using = router.db_for_write(Suppression)
    with transaction.atomic(using=using):
        deleted, _ = (
            Suppression.objects.using(using).filter(phone_number=number).delete()
        )
        if deleted:
            _log_change(using, number, SuppressionChange.Change.REMOVED, reason, source)
    if deleted:
        logger.info(
            "Unsuppressed %s (%s): %s", mask_phone_number(number), source, reason
        )
    return bool(deleted)


def _log_change(using: str, number: str, change: str, reason: str, source: str) -> None:
    SuppressionChange.objects.using(using).create(
        phone_number=number, change=change, reason=reason, source=source
    )
