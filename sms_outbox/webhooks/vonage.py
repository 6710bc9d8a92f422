"""Vonage's webhooks: the signature, delivery receipts and inbound SMS."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from typing import cast

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import get_setting
from sms_outbox.inbound import InboundSms, receive
from sms_outbox.receipts import record_report
from sms_outbox.webhooks.base import (
    DeliveryReport,
    check_timestamp,
    get_body,
    get_field,
    get_fields,
    get_message_id,
    get_raw_status,
    get_recipient,
    get_timestamp,
    secret_for,
    webhook_endpoint,
)

try:
    from vonage import Auth as VonageAuth
except ImportError:  # the optional extra django-sms[vonage]
    VonageAuth = None

logger = logging.getLogger(__name__)

#: How old the signed ``timestamp`` of a Vonage webhook (a receipt or an
#: inbound SMS) may be, in seconds: a captured one cannot be replayed later.
VONAGE_MAX_AGE = 300

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

#: The inbound ``type`` values Vonage sends. A binary SMS has ``data`` and
#: ``udh`` instead of ``text``: it is stored with an empty body, so it is kept
#: (and not retried by Vonage for a day) but never read as a keyword.
TYPES = frozenset({"text", "unicode", "binary"})


def verify_vonage(
    fields: QueryDict, what: str = "webhook", alias: str | None = None
) -> None:
    """Raise ``PermissionDenied`` unless Vonage signed these webhook fields.

    Delivery receipts and inbound SMS are signed alike. The ``sig`` field
    must be the HMAC (``VONAGE_SIGNATURE_METHOD``), keyed with
    ``VONAGE_SIGNATURE_SECRET``, over every other field, as the SDK's
    ``Auth.check_signature()`` computes it; the signed ``timestamp`` must be
    at most ``VONAGE_MAX_AGE`` seconds from now. ``what`` names the request
    in the log line; with an ``alias``, that alias's ``signature_secret``
    OPTION is the key.
    """
    if VonageAuth is None:
        raise SmsImproperlyInstalled("vonage", "vonage")
    secret = secret_for(alias, "signature_secret", "VONAGE_SIGNATURE_SECRET")
    method = get_setting("VONAGE_SIGNATURE_METHOD")
    if method not in ("md5", "sha1", "sha256", "sha512"):
        raise SmsConfigurationError(
            f"VONAGE_SIGNATURE_METHOD is {method!r}: set it to the signature "
            "method of your Vonage account: 'md5', 'sha1', 'sha256' or 'sha512'."
        )
    # A parsed QueryDict has a value for every key; the stubs allow a list.
    params = cast("dict[str, str]", {name: fields[name] for name in fields})
    auth = VonageAuth(api_key="-", signature_secret=secret, signature_method=method)
    try:
        age = abs(time.time() - int(params.get("timestamp", "")))
    except (ValueError, OverflowError):
        age = None
    if not params.get("sig") or age is None or age > VONAGE_MAX_AGE:
        logger.warning("Refused a Vonage %s without a fresh signed timestamp.", what)
        raise PermissionDenied("The Vonage webhook is not signed, or not recently.")
    # The SDK's compare_digest raises TypeError for a non-ASCII sig.
    if not params["sig"].isascii() or not auth.check_signature(params):
        logger.warning("Refused a Vonage %s with a bad signature.", what)
        raise PermissionDenied("The Vonage webhook's sig does not match.")


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


def parse_vonage_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in Vonage's fields, or raise ``BadRequest``.

    ``msisdn`` texted ``to`` (our virtual number); both come without the
    ``+``. ``message-timestamp`` is UTC, ``YYYY-MM-DD HH:MM:SS``. Each part of
    a concatenated SMS arrives, and is stored, with its own ``messageId``.
    """
    message_id = get_message_id(data, "messageId")
    kind = get_field(data, "type") or "text"
    if kind not in TYPES:
        raise BadRequest(f"The field 'type' is not one of {sorted(TYPES)}.")
    return InboundSms(
        provider="vonage",
        provider_message_id=message_id,
        sender=get_recipient(data, "msisdn", required=True),
        recipient=get_recipient(data, "to", required=False),
        body="" if kind == "binary" else get_body(data, "text"),
        received_at=get_timestamp(data, "message-timestamp"),
    )


def _get_scts(data: QueryDict) -> datetime.datetime | None:
    """Return the UTC time in the ``scts`` field (``YYMMDDhhmm``), or None."""
    value = get_field(data, "scts")
    if not value:
        return None
    try:
        parsed = datetime.datetime.strptime(value, "%y%m%d%H%M")
    except ValueError as err:
        raise BadRequest("The field 'scts' is not a YYMMDDhhmm time.") from err
    return check_timestamp(parsed, "scts")


# CSRF cannot apply: Vonage holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@webhook_endpoint("Vonage", "delivery receipt")
def vonage_delivery_receipt(
    request: HttpRequest, alias: str | None = None
) -> HttpResponse:
    """Verify and record a Vonage SMS delivery receipt (``callback``).

    A 2xx also for unknown messages and statuses: Vonage retries anything else.
    """
    fields = get_fields(request)
    verify_vonage(fields, "delivery receipt", alias)
    report = parse_vonage(fields)
    outcome = record_report(dataclasses.replace(report, alias=alias or ""))
    return HttpResponse(outcome.value, content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
@webhook_endpoint("Vonage", "inbound SMS")
def vonage_inbound(request: HttpRequest, alias: str | None = None) -> HttpResponse:
    """Verify and store an SMS sent to one of our Vonage numbers.

    Vonage sends a GET, a form POST or a JSON POST, as the account's webhook
    settings say, signed with ``VONAGE_SIGNATURE_SECRET``. Choose POST-JSON:
    a GET puts the sender's number and the text in the URL, where access logs
    keep it. Vonage wants a 200 or 204 back; anything else it retries for a day.
    """
    fields = get_fields(request)
    verify_vonage(fields, "inbound SMS", alias)
    receive(parse_vonage_inbound(fields))
    return HttpResponse("", content_type="text/plain")
