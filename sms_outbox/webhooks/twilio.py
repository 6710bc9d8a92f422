"""Read a Twilio status callback (form POST) into a ``DeliveryReport``."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import QueryDict

from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.exceptions import RecipientOptedOut
from sms_outbox.webhooks.report import (
    DeliveryReport,
    get_field,
    get_raw_status,
    get_recipient,
)

#: Twilio's MessageStatus values, normalised. "failed" means Twilio could not
#: send it at all; "undelivered" means the carrier or handset refused it.
STATUSES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "partially_delivered": "undelivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}

#: The ErrorCode values that mean the recipient opted out: the codes the
#: Twilio backend maps to ``RecipientOptedOut`` (21610, the number replied
#: STOP), which a Messaging Service reports in the callback instead.
OPT_OUT_ERRORS = frozenset(
    str(code)
    for code, cls in TwilioBackend.error_classes.items()
    if cls is RecipientOptedOut
)


def parse_twilio(data: QueryDict, query: QueryDict | None = None) -> DeliveryReport:
    """Return the report in Twilio's posted fields, or raise ``BadRequest``.

    ``query`` is the callback URL's query string, where the backend put the
    message's ``reference`` (signed with the URL), so a report that arrives
    before the drain stored the SID still finds its row. Twilio sends no time
    with a status, so the report carries none and is ordered by rank alone.
    """
    # SmsSid/SmsStatus are the older names Twilio still sends alongside.
    message_id = get_field(data, "MessageSid") or get_field(data, "SmsSid")
    status_field = "MessageStatus" if "MessageStatus" in data else "SmsStatus"
    raw_status = get_raw_status(data, status_field)
    if not message_id:
        raise BadRequest("The field 'MessageSid' is missing.")
    error_code = get_field(data, "ErrorCode", max_length=32)
    return DeliveryReport(
        provider="twilio",
        message_id=message_id,
        status=STATUSES.get(raw_status),
        raw_status=raw_status,
        recipient=get_recipient(data, "To", required=False),
        reference=get_field(query, "reference", max_length=64) if query else "",
        error_code=error_code,
        reason=get_field(data, "ErrorMessage", max_length=200),
        opted_out=error_code in OPT_OUT_ERRORS,
    )
