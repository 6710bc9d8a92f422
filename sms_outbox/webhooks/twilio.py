"""Twilio's webhooks: the signature, status callbacks and incoming messages."""

from __future__ import annotations

import dataclasses
import logging

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.exceptions import RecipientOptedOut, SmsImproperlyInstalled
from sms_outbox.inbound import InboundSms, receive
from sms_outbox.receipts import record_report
from sms_outbox.webhooks.base import (
    DeliveryReport,
    get_body,
    get_field,
    get_message_id,
    get_public_url,
    get_raw_status,
    get_recipient,
    secret_for,
    webhook_endpoint,
)

try:
    from twilio import request_validator as twilio_validator
except ImportError:  # the optional extra django-sms[twilio]
    twilio_validator = None

logger = logging.getLogger(__name__)

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

#: The reply Twilio expects: TwiML that sends nothing back. An auto-reply
#: (HELP) goes through the outbox instead, so it is logged and retried.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def verify_twilio(
    request: HttpRequest, what: str = "webhook", alias: str | None = None
) -> None:
    """Raise ``PermissionDenied`` unless Twilio signed this request.

    The ``X-Twilio-Signature`` header must match the HMAC, keyed with
    ``TWILIO_AUTH_TOKEN``, over the public URL and every posted field. The
    HMAC named in ``X-Twilio-Webhooks-Signature-Settings`` is honoured, but
    always keyed with the auth token: webhooks signed with a Twilio SharedKey
    secret are refused. ``what`` names the request in the log line.
    """
    if twilio_validator is None:
        raise SmsImproperlyInstalled("twilio", "twilio")
    token = secret_for(alias, "auth_token", "TWILIO_AUTH_TOKEN")
    validator = twilio_validator.RequestValidator(token)
    signature = request.headers.get("X-Twilio-Signature", "")
    options = {}
    settings_header = request.headers.get("X-Twilio-Webhooks-Signature-Settings")
    # twilio releases that sign with a choice of HMAC name it in this header.
    if settings_header and hasattr(twilio_validator, "get_signature_algorithm"):
        options["algorithm"] = twilio_validator.get_signature_algorithm(settings_header)
    url = get_public_url(request)
    if not signature or not validator.validate(url, request.POST, signature, **options):
        logger.warning("Refused a Twilio %s with a bad signature.", what)
        raise PermissionDenied("The X-Twilio-Signature header does not match.")


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


def parse_twilio_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in Twilio's posted fields, or raise ``BadRequest``.

    Twilio sends no time with an incoming message: it is ordered by arrival.
    """
    return InboundSms(
        provider="twilio",
        provider_message_id=get_message_id(data, "MessageSid", "SmsSid"),
        sender=get_recipient(data, "From", required=True),
        recipient=get_recipient(data, "To", required=False),
        body=get_body(data, "Body"),
    )


# CSRF cannot apply: Twilio holds no token. The signature replaces it, and
# require_http_methods limits the exemption to the method Twilio uses.
@csrf_exempt
@require_http_methods(["POST"])
@webhook_endpoint("Twilio", "status callback")
def twilio_status_callback(
    request: HttpRequest, alias: str | None = None
) -> HttpResponse:
    """Verify and record a Twilio status callback (``StatusCallback``).

    A 2xx also for unknown messages and statuses: Twilio retries anything
    else. At an alias's URL the report is checked with, and matched to the
    rows sent by, that ``SMS_PROVIDERS`` alias.
    """
    verify_twilio(request, "status callback", alias)
    report = parse_twilio(request.POST, request.GET)
    outcome = record_report(dataclasses.replace(report, alias=alias or ""))
    return HttpResponse(outcome.value, content_type="text/plain")


@csrf_exempt
@require_http_methods(["POST"])
@webhook_endpoint("Twilio", "incoming message")
def twilio_inbound(request: HttpRequest, alias: str | None = None) -> HttpResponse:
    """Verify and store an SMS sent to one of our Twilio numbers.

    At an alias's URL the signature is checked with that alias's token.
    """
    verify_twilio(request, "incoming message", alias)
    receive(parse_twilio_inbound(request.POST))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
