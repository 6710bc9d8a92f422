"""Amazon's inbound-SMS endpoint: an SNS subscription that stores each SMS.

AWS End User Messaging SMS (two-way SMS) publishes every SMS sent to one of
our numbers to an SNS topic; SNS POSTs it here as a signed JSON message whose
``Message`` field is the SMS, itself a JSON string.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms_outbox.inbound import InboundSms, receive
from sms_outbox.webhooks.inbound_guard import get_body, inbound_endpoint
from sms_outbox.webhooks.report import get_recipient
from sms_outbox.webhooks.sns import SIGNED_FIELDS, fetch, is_sns_url, verify_sns

logger = logging.getLogger(__name__)

#: The fields every SNS message has, all strings. Missing signature fields are
#: left to ``verify_sns``: an unsigned message is forged (403), not malformed.
ENVELOPE = ("Type", "MessageId", "TopicArn", "Message", "Timestamp")


def _load_json(raw: bytes | str, what: str) -> dict[str, Any]:
    """Return the JSON object in ``raw`` or raise ``BadRequest`` naming ``what``."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequest(f"The {what} is not JSON.") from err
    if not isinstance(data, dict):
        raise BadRequest(f"The {what} is not a JSON object.")
    return data


def parse_envelope(request: HttpRequest) -> dict[str, Any]:
    """Return the SNS message posted, its fields checked, or raise ``BadRequest``."""
    message = _load_json(request.body, "SNS message")
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise BadRequest(f"The SNS Type is not one of {sorted(SIGNED_FIELDS)}.")
    header = request.headers.get("x-amz-sns-message-type")
    if header is not None and header != kind:
        raise BadRequest("The x-amz-sns-message-type header differs from the Type.")
    for name in SIGNED_FIELDS[kind] + ENVELOPE:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"The SNS field {name!r} is missing or not a string.")
    return message


def parse_aws_inbound(text: str) -> InboundSms:
    """Return the inbound SMS in the SNS ``Message`` text, or raise ``BadRequest``.

    ``originationNumber`` texted ``destinationNumber`` (our number), both
    E.164; ``inboundMessageId`` is unique per SMS.
    """
    payload = _load_json(text, "SNS Message")
    fields = QueryDict(mutable=True)
    for name, value in payload.items():
        if isinstance(value, str):
            fields[name] = value
        elif value is not None:
            raise BadRequest(f"The field {name!r} is not a string.")
    message_id = fields.get("inboundMessageId", "").strip()
    if not message_id or len(message_id) > 64:
        raise BadRequest("The field 'inboundMessageId' is missing or too long.")
    return InboundSms(
        provider="aws",
        provider_message_id=message_id,
        sender=get_recipient(fields, "originationNumber", required=True),
        recipient=get_recipient(fields, "destinationNumber", required=False),
        body=get_body(fields, "messageBody"),
    )


def _confirm(message: dict[str, Any]) -> None:
    """Confirm the subscription by GETting its ``SubscribeURL``."""
    url = message["SubscribeURL"]
    if not is_sns_url(url):
        raise PermissionDenied("The SNS SubscribeURL is not an SNS https URL.")
    fetch(url)
    logger.info("Confirmed the SNS subscription to %s.", message["TopicArn"])


# CSRF cannot apply: SNS holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["POST"])
@inbound_endpoint("Amazon SNS")
def aws_inbound(request: HttpRequest) -> HttpResponse:
    """Verify an SNS message, then confirm the subscription or store the SMS.

    SNS retries a message answered with a 5xx, so an SNS we could not reach
    (for the certificate or the confirmation) gets a 503.
    """
    message = parse_envelope(request)
    try:
        verify_sns(message)
        if message["Type"] == "SubscriptionConfirmation":
            _confirm(message)
    except OSError as err:
        logger.warning("Could not reach Amazon SNS: %s", err)
        return HttpResponse("SNS unreachable.", status=503, content_type="text/plain")
    if message["Type"] == "Notification":
        receive(parse_aws_inbound(message["Message"]))
    return HttpResponse("", content_type="text/plain")
