"""How a delivery receipt changes its outbox row: once, in order, atomically."""

from __future__ import annotations

import enum
import functools
import logging
from typing import cast

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from sms.exceptions import RecipientOptedOut
from sms.phone import mask_phone_number
from sms_outbox import sql
from sms_outbox.models import Message, Receipt
from sms_outbox.optout import note_provider_opt_out
from sms_outbox.signals import delivery_status_changed
from sms_outbox.webhooks.base import FINAL_STATUSES, STATUS_RANK, DeliveryReport

logger = logging.getLogger(__name__)

__all__ = ["ReceiptOutcome", "record_report"]

# A conditional UPDATE that loses a race re-reads the row and judges again;
# every loss means another report was recorded, so this bounds the loop.
_TRIES = 5


class ReceiptOutcome(str, enum.Enum):
    """What ``record_report()`` did with a report."""

    RECORDED = "recorded"  # the row's delivery status changed
    REPLAY = "replay"  # the row already has this status
    STALE = "stale"  # the row holds a newer or a final status
    UNKNOWN_MESSAGE = "unknown message"  # no row of this provider has this id
    UNKNOWN_STATUS = "unknown status"  # a provider status with no mapping


def record_report(report: DeliveryReport) -> ReceiptOutcome:
    """Store ``report`` on its outbox row if it is new and newer; return the outcome.

    A recorded change writes one ``Receipt`` row and sends
    ``delivery_status_changed`` once the transaction commits. A final status
    (delivered, undelivered, failed) never gives way to a non-final one, and
    a report only finds rows that its own provider sent. A report whose
    error says the recipient opted out puts the number on the suppression
    list (source "provider"), whatever the outcome: a replay or a late report
    is still the provider's word that the number opted out.
    """
    outcome = _record(report)
    if report.opted_out:
        _note_opt_out(report)
    return outcome


def _record(report: DeliveryReport) -> ReceiptOutcome:
    if report.status is None:
        logger.warning(
            "Ignored a %s report for message %s with the unknown status %r.",
            report.provider,
            report.message_id,
            report.raw_status,
        )
        return ReceiptOutcome.UNKNOWN_STATUS
    using = sql.outbox_alias()
    for _ in range(_TRIES):
        with transaction.atomic(using=using):
            row = _find_row(report, using)
            if row is None:
                logger.info(
                    "No outbox row of %s for message %s to %s (reference %r); ignored.",
                    report.provider,
                    report.message_id,
                    mask_phone_number(report.recipient),
                    report.reference,
                )
                return ReceiptOutcome.UNKNOWN_MESSAGE
            verdict = _judge(row, report)
            if verdict is not None:
                return verdict
            if _apply(row, report, using):
                return ReceiptOutcome.RECORDED
    return ReceiptOutcome.STALE


def _note_opt_out(report: DeliveryReport) -> None:
    """Suppress the recipient of ``report``, which the provider says opted out."""
    number = report.recipient or (
        Message.objects.using(sql.outbox_alias())
        .filter(provider_message_id=report.message_id)
        .exclude(provider_message_id="")  # the index's condition
        .values_list("recipient", flat=True)
        .first()
    )
    if not number:
        logger.warning(
            "A %s report for message %s says the recipient opted out, but names "
            "no recipient and matches no outbox row; nothing suppressed.",
            report.provider,
            report.message_id,
        )
        return
    error = RecipientOptedOut(
        f"{report.provider} reported it opted out",
        code=report.error_code,
        provider=report.provider,
    )
    note_provider_opt_out(number, error)


def _sent_by(row: Message, provider: str, alias: str = "") -> bool:
    """Return True if ``provider`` (through ``alias``, if given) may have sent ``row``.

    ``backend`` is the dotted path of the backend that sent the row (blank
    until the drain records it), such as ``sms.backends.twilio.SmsBackend``.
    A row another provider sent is not this report's, whatever its reference,
    nor is a row another ``SMS_PROVIDERS`` alias sent (another account of the
    same provider, whose reports come to that alias's URL).
    """
    if alias and row.provider and row.provider != alias:
        return False
    return not row.backend or provider in _providers(row.backend)


@functools.lru_cache(maxsize=64)
def _providers(backend: str) -> str:
    """Return the dotted paths of backend ``backend`` and its bases, lower-cased.

    A provider's name in them (``twilio`` in ``sms.backends.twilio.SmsBackend``)
    says it may have sent the row, so a project's subclass of the Twilio
    backend counts as Twilio's. A path that no longer imports counts by itself.
    """
    try:
        classes = import_string(backend).__mro__
    except (ImportError, AttributeError):
        return backend.lower()
    return " ".join(f"{c.__module__}.{c.__qualname__}".lower() for c in classes)


def _find_row(report: DeliveryReport, using: str) -> Message | None:
    """Return the row, locked, by provider id and recipient, else by reference."""
    rows = Message.objects.using(using).select_for_update()
    if report.recipient:
        rows = rows.filter(recipient=report.recipient)
    lookups = [("provider_message_id", report.message_id)]
    lookups.append(("reference", report.reference))
    for field, value in lookups:
        if value:  # a blank value would match every row not yet sent
            # No ORDER BY: it would lead the planner to walk the primary key
            # instead of the id index. A match is one row, or a few at most.
            # Excluding "" repeats the provider id index's condition, so the
            # planner can use it whatever the value.
            matches = [
                row
                for row in rows.filter(**{field: value}).exclude(**{field: ""})[:10]
                if _sent_by(row, report.provider, report.alias)
            ]
            if matches:
                return max(matches, key=lambda row: row.pk)
    return None


def _judge(row: Message, report: DeliveryReport) -> ReceiptOutcome | None:
    """Return why ``report`` must not be recorded on ``row``, or None if it must."""
    if report.status == row.delivery_status:
        return ReceiptOutcome.REPLAY
    if not row.delivery_status:
        return None
    if row.delivery_status in FINAL_STATUSES and report.status not in FINAL_STATUSES:
        return ReceiptOutcome.STALE
    stored_rank = STATUS_RANK.get(row.delivery_status, -1)
    if report.timestamp is not None and row.delivery_updated_at is not None:
        # The provider's own clock orders reports; the rank breaks ties
        # within its one-second resolution.
        newer = (report.timestamp, report.rank) > (
            row.delivery_updated_at,
            stored_rank,
        )
    else:
        newer = report.rank > stored_rank
    return None if newer else ReceiptOutcome.STALE


def _apply(row: Message, report: DeliveryReport, using: str) -> bool:
    """Update ``row`` unless another report changed it since it was read."""
    now = timezone.now()
    changed = (
        Message.objects.using(using)
        .filter(
            pk=row.pk,
            delivery_status=row.delivery_status,
            delivery_updated_at=row.delivery_updated_at,
        )
        .update(
            delivery_status=report.status,
            delivery_status_raw=report.raw_status,
            delivery_error_code=report.error_code,
            delivery_updated_at=report.timestamp or now,
            updated_at=now,
        )
    )
    if not changed:
        return False
    Receipt.objects.using(using).create(
        message=row,
        provider=report.provider,
        status=cast(str, report.status),  # record_report() refused None
        raw_status=report.raw_status,
        error_code=report.error_code,
        reason=report.reason,
        reported_at=report.timestamp,
        created_at=now,
    )
    old_status = row.delivery_status
    row.delivery_status = cast(str, report.status)
    row.delivery_status_raw = report.raw_status
    row.delivery_error_code = report.error_code
    row.delivery_updated_at = report.timestamp or now
    row.updated_at = now
    _announce_on_commit(row, old_status, report, using)
    return True


def _announce_on_commit(
    row: Message, old_status: str, report: DeliveryReport, using: str
) -> None:
    """Send ``delivery_status_changed`` for ``row`` once the change commits."""

    def send_signal() -> None:
        delivery_status_changed.send(
            sender=Message,
            message=row,
            old_status=old_status,
            new_status=report.status,
            provider=report.provider,
        )

    # robust: the change is committed; a failing receiver is logged, and a
    # provider's retry would be a replay that sends nothing anyway.
    transaction.on_commit(send_signal, using=using, robust=True)
