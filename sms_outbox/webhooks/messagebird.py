"""Read a MessageBird SMS status report (GET, or POST) into a ``DeliveryReport``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, QueryDict

from sms_outbox.webhooks.report import (
    DeliveryReport,
    get_field,
    get_raw_status,
    get_recipient,
    get_timestamp,
)

#: MessageBird's recipient statuses, normalised. "delivery_failed" is the
#: carrier's refusal, hence "undelivered"; "buffered" waits at the carrier.
STATUSES = {
    "scheduled": "queued",
    "sent": "sent",
    "buffered": "sent",
    "delivered": "delivered",
    "delivery_failed": "undelivered",
    "expired": "expired",
}


def get_report_fields(request: HttpRequest) -> QueryDict:
    """Return the report's fields: the query string, plus the body of a POST.

    MessageBird sends reports as a GET with query parameters, or as a POST
    whose body is form-encoded or a JSON object. Raise ``BadRequest`` for a
    body that is neither.
    """
    fields = request.GET.copy()
    if request.method != "POST":
        return fields
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError) as err:
            raise BadRequest("The body is not JSON.") from err
        if not isinstance(body, dict):
            raise BadRequest("The JSON body is not an object.")
        items: Iterable[tuple[str, Any]] = body.items()
    else:
        items = request.POST.lists()
    for name, value in items:
        values = value if isinstance(value, list) else [value]
        # Objects (price, ...) are not needed; keep scalars only.
        fields.setlist(
            name, [str(v) for v in values if isinstance(v, str | int | float)]
        )
    return fields


def parse_messagebird(data: QueryDict) -> DeliveryReport:
    """Return the report in MessageBird's fields, or raise ``BadRequest``.

    The message id is shared by all recipients of one API call, so the
    recipient is required; ``statusDatetime`` orders out-of-order reports.
    """
    raw_status = get_raw_status(data, "status")
    return DeliveryReport(
        provider="messagebird",
        message_id=get_field(data, "id", required=True),
        status=STATUSES.get(raw_status),
        raw_status=raw_status,
        recipient=get_recipient(data, "recipient", required=True),
        reference=get_field(data, "reference"),
        error_code=get_field(data, "statusErrorCode", max_length=32),
        reason=get_field(data, "statusReason", max_length=200),
        timestamp=get_timestamp(data, "statusDatetime"),
    )
