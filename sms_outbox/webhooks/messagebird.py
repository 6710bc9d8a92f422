"""MessageBird's webhooks: the signature, status reports and inbound SMS."""

from __future__ import annotations

import dataclasses
import logging

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms.exceptions import SmsImproperlyInstalled
from sms_outbox.inbound import InboundSms, receive
from sms_outbox.receipts import record_report
from sms_outbox.webhooks.base import (
    DeliveryReport,
    get_body,
    get_field,
    get_fields,
    get_message_id,
    get_public_url,
    get_raw_status,
    get_recipient,
    get_timestamp,
    secret_for,
    webhook_endpoint,
)

try:
    from messagebird.error import ValidationError as MessageBirdValidationError
    from messagebird.request_validator import (
        RequestValidator as MessageBirdRequestValidator,
    )
except ImportError:  # the optional extra django-sms[messagebird]
    MessageBirdRequestValidator = None

logger = logging.getLogger(__name__)

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


def verify_messagebird(
    request: HttpRequest, what: str = "webhook", alias: str | None = None
) -> None:
    """Raise ``PermissionDenied`` unless MessageBird signed this request.

    The ``MessageBird-Signature-JWT`` header must be a JWT signed with
    ``MESSAGEBIRD_SIGNING_KEY`` (not the access key) whose claims hash the
    public URL, query string included, and the raw body. The SDK also checks
    the token's issue and expiry times, so a captured request goes stale.
    ``what`` names the request in the log line; with an ``alias``, that
    alias's ``signing_key`` OPTION is the key.
    """
    if MessageBirdRequestValidator is None:
        raise SmsImproperlyInstalled("messagebird", "messagebird")
    key = secret_for(alias, "signing_key", "MESSAGEBIRD_SIGNING_KEY")
    validator = MessageBirdRequestValidator(key)
    signature = request.headers.get("MessageBird-Signature-JWT", "")
    url = get_public_url(request)
    try:
        validator.validate_signature(signature, url, request.body)
    # The SDK indexes and compares claims unchecked: a validly signed token
    # without url_hash, or with a non-string hash, fails with these instead.
    except (MessageBirdValidationError, KeyError, TypeError) as err:
        logger.warning(
            "Refused a MessageBird %s with a bad signature: %s",
            what,
            getattr(err, "message", type(err).__name__),
        )
        raise PermissionDenied(
            "The MessageBird-Signature-JWT header is invalid."
        ) from err


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


def parse_messagebird_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in MessageBird's fields, or raise ``BadRequest``.

    ``originator`` texted ``recipient`` (our virtual number); both come
    without the ``+``. ``body`` is the text (``message`` in older webhooks).
    """
    return InboundSms(
        provider="messagebird",
        provider_message_id=get_message_id(data, "id"),
        sender=get_recipient(data, "originator", required=True),
        recipient=get_recipient(data, "recipient", required=False),
        body=get_body(data, "body", "message"),
        received_at=get_timestamp(data, "createdDatetime"),
    )


# CSRF cannot apply: MessageBird holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@webhook_endpoint("MessageBird", "status report")
def messagebird_status_report(
    request: HttpRequest, alias: str | None = None
) -> HttpResponse:
    """Verify and record a MessageBird status report (``reportUrl``).

    A 2xx also for unknown messages and statuses: MessageBird retries
    anything else.
    """
    verify_messagebird(request, "status report", alias)
    report = parse_messagebird(get_fields(request))
    outcome = record_report(dataclasses.replace(report, alias=alias or ""))
    return HttpResponse(outcome.value, content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
@webhook_endpoint("MessageBird", "inbound SMS")
def messagebird_inbound(request: HttpRequest, alias: str | None = None) -> HttpResponse:
    """Verify and store an SMS sent to one of our MessageBird numbers."""
    verify_messagebird(request, "inbound SMS", alias)
    receive(parse_messagebird_inbound(get_fields(request)))
    return HttpResponse("", content_type="text/plain")
