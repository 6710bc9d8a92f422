"""Twilio's incoming-message webhook: verify, read and store an inbound SMS."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms_outbox.inbound import InboundSms, receive
from sms_outbox.webhooks.inbound_guard import get_body, inbound_endpoint
from sms_outbox.webhooks.report import get_field, get_recipient
from sms_outbox.webhooks.verify import verify_twilio

#: The reply Twilio expects: TwiML that sends nothing back. An auto-reply
#: (HELP) goes through the outbox instead, so it is logged and retried.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def parse_twilio_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in Twilio's posted fields, or raise ``BadRequest``."""
    message_id = get_field(data, "MessageSid") or get_field(data, "SmsSid")
    if not message_id:
        raise BadRequest("The field 'MessageSid' is missing.")
    if len(message_id) > 64:
        raise BadRequest("The field 'MessageSid' is longer than 64 characters.")
    return InboundSms(
        provider="twilio",
        provider_message_id=message_id,
        sender=get_recipient(data, "From", required=True),
        recipient=get_recipient(data, "To", required=False),
        body=get_body(data, "Body"),
    )


# CSRF cannot apply: Twilio holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["POST"])
@inbound_endpoint("Twilio")
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """Verify and store an SMS sent to one of our Twilio numbers."""
    verify_twilio(request)
    receive(parse_twilio_inbound(request.POST))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
