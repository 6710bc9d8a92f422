"""Vonage's inbound-SMS webhook: verify, read and store an inbound SMS."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms_outbox.inbound import InboundSms, receive
from sms_outbox.webhooks.inbound_guard import get_body, inbound_endpoint
from sms_outbox.webhooks.messagebird import get_report_fields
from sms_outbox.webhooks.report import get_field, get_recipient, get_timestamp
from sms_outbox.webhooks.verify import verify_vonage

#: The ``type`` values Vonage sends. A binary SMS has ``data`` and ``udh``
#: instead of ``text``: it is stored with an empty body, so it is kept (and
#: not retried by Vonage for a day) but never read as a keyword.
TYPES = frozenset({"text", "unicode", "binary"})


def parse_vonage_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in Vonage's fields, or raise ``BadRequest``.

    ``msisdn`` texted ``to`` (our virtual number); both come without the
    ``+``. ``message-timestamp`` is UTC, ``YYYY-MM-DD HH:MM:SS``. Each part of
    a concatenated SMS arrives, and is stored, with its own ``messageId``.
    """
    message_id = get_field(data, "messageId", required=True)
    if len(message_id) > 64:
        raise BadRequest("The field 'messageId' is longer than 64 characters.")
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


# CSRF cannot apply: Vonage holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@inbound_endpoint("Vonage")
def vonage_inbound(request: HttpRequest) -> HttpResponse:
    """Verify and store an SMS sent to one of our Vonage numbers.

    Vonage sends a GET, a form POST or a JSON POST, as the account's webhook
    settings say, signed with ``VONAGE_SIGNATURE_SECRET``. It wants a 200 or
    204 back; anything else it retries for a day.
    """
    fields = get_report_fields(request)
    verify_vonage(fields)
    receive(parse_vonage_inbound(fields))
    return HttpResponse("", content_type="text/plain")
