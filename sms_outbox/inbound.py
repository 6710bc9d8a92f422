"""Store an inbound SMS once, act on its keyword, and announce it on commit."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import router, transaction

import sms
from sms.phone import mask_phone_number
from sms_outbox import optout as keywords
from sms_outbox.conf import get_setting
from sms_outbox.models import InboundMessage
from sms_outbox.signals import sms_received

logger = logging.getLogger(__name__)

__all__ = ["InboundSms", "receive"]

_ACTIONS = {
    keywords.OPT_OUT: InboundMessage.Action.OPT_OUT,
    keywords.OPT_IN: InboundMessage.Action.OPT_IN,
    keywords.HELP: InboundMessage.Action.HELP,
}


@dataclass(frozen=True)
class InboundSms:
    """An inbound SMS as a webhook parser read it: numbers in E.164."""

    provider: str
    provider_message_id: str
    sender: str
    recipient: str
    body: str
    received_at: datetime.datetime | None = None


def receive(sms_in: InboundSms) -> tuple[InboundMessage, bool]:
    """Store ``sms_in`` unless stored already; return the row and whether it is new.

    A new message's keyword takes effect in the same transaction: an opt-out
    or opt-in keyword changes the suppression list as
    ``sms_outbox.optout.apply_keyword()`` decides (the newest keyword wins), and
    a help keyword queues ``SMS_OUTBOX_HELP_REPLY`` (if set) through the
    outbox. ``sms_received`` fires once that transaction commits; a replay
    (a provider retrying the webhook) changes nothing and fires nothing.
    """
    using = router.db_for_write(InboundMessage)
    with transaction.atomic(using=using):
        row, created = InboundMessage.objects.using(using).get_or_create(
            provider=sms_in.provider,
            provider_message_id=sms_in.provider_message_id,
            defaults=_fields(sms_in),
        )
        if not created:
            return row, False
        _act(row)
        # robust: the message is stored; a failing receiver is logged, and a
        # provider's retry would be a replay that fires nothing.
        transaction.on_commit(
            lambda: sms_received.send(sender=InboundMessage, message=row),
            using=using,
            robust=True,
        )
    logger.info(
        "Received an SMS from %s via %s%s.",
        mask_phone_number(row.sender),
        row.provider,
        f" ({row.action})" if row.action else "",
    )
    return row, True


def _fields(sms_in: InboundSms) -> dict[str, object]:
    """Return the columns of a new row for ``sms_in``, its keyword's action too."""
    fields: dict[str, object] = {
        "sender": sms_in.sender,
        "recipient": sms_in.recipient,
        "body": sms_in.body,
        "action": _ACTIONS.get(keywords.match_keyword(sms_in.body), ""),
    }
    if sms_in.received_at is not None:
        fields["received_at"] = sms_in.received_at
    return fields


def _act(row: InboundMessage) -> None:
    """Apply the keyword of the new inbound ``row``."""
    if row.action != InboundMessage.Action.HELP:
        keywords.apply_keyword(row)
        return
    reply = get_setting("SMS_OUTBOX_HELP_REPLY")
    if reply:
        # Queued, so it is sent (and retried) by the drain like any SMS,
        # from the number the sender texted.
        sms.send_sms(
            reply,
            row.recipient or None,
            [row.sender],
            fail_silently=True,
            connection=sms.get_connection(
                "sms_outbox.backends.QueuedSmsBackend", fail_silently=True
            ),
        )
