"""Read a Vonage SMS delivery receipt (GET, or POST) into a ``DeliveryReport``."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.utils import timezone

from sms_outbox.webhooks.report import (
    DeliveryReport,
    get_field,
    get_raw_status,
    get_recipient,
)

#: Vonage's receipt statuses, normalised. "rejected" is Vonage's own refusal,
#: hence "failed"; "failed" is the carrier's, hence "undelivered".
STATUSES = {
    "accepted": "sent",
    "buffered": "sent",
    "delivered": "delivered",
    "expired": "expired",
    "failed": "undelivered",
    "rejected": "failed",
}

#: The receipt ``err-code`` values that mean the recipient opted out. 9 is
#: "the user has requested not to receive messages from the sending number"
#: (developer.vonage.com, Opt-out Assist: "Messaging Opted-out Numbers").
#: Receipt codes are not the send API's statuses (there, 7 is the opt-out).
OPT_OUT_ERRORS = frozenset({"9"})


def parse_vonage(data: QueryDict) -> DeliveryReport:
    """Return the receipt in Vonage's fields, or raise ``BadRequest``.

    ``client-ref`` is the outbox row's reference; ``scts``, the carrier's
    time of the status (``YYMMDDhhmm``, UTC), orders out-of-order receipts.
    """
    raw_status = get_raw_status(data, "status")
    error_code = get_field(data, "err-code", max_length=32)
    return DeliveryReport(
        provider="vonage",
        message_id=get_field(data, "messageId", required=True),
        status=STATUSES.get(raw_status),
        raw_status=raw_status,
        recipient=get_recipient(data, "msisdn", required=True),
        reference=get_field(data, "client-ref", max_length=64),
        error_code="" if error_code == "0" else error_code,
        timestamp=_get_scts(data),
        opted_out=error_code in OPT_OUT_ERRORS,
    )


def _get_scts(data: QueryDict) -> datetime.datetime | None:
    value = get_field(data, "scts")
    if not value:
        return None
    try:
        parsed = datetime.datetime.strptime(value, "%y%m%d%H%M")
    except ValueError as err:
        raise BadRequest("The field 'scts' is not a YYMMDDhhmm time.") from err
    parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed if settings.USE_TZ else timezone.make_naive(parsed)
