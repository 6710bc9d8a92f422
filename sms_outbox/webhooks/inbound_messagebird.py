"""MessageBird's inbound-SMS webhook: verify, read and store an inbound SMS."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms_outbox.inbound import InboundSms, receive
from sms_outbox.webhooks.inbound_guard import get_body, inbound_endpoint
from sms_outbox.webhooks.messagebird import get_report_fields
from sms_outbox.webhooks.report import get_field, get_recipient, get_timestamp
from sms_outbox.webhooks.verify import verify_messagebird


def parse_messagebird_inbound(data: QueryDict) -> InboundSms:
    """Return the inbound SMS in MessageBird's fields, or raise ``BadRequest``.

    ``originator`` texted ``recipient`` (our virtual number); both come
    without the ``+``. ``body`` is the text (``message`` in older webhooks).
    """
    message_id = get_field(data, "id", required=True)
    if len(message_id) > 64:
        raise BadRequest("The field 'id' is longer than 64 characters.")
    return InboundSms(
        provider="messagebird",
        provider_message_id=message_id,
        sender=get_recipient(data, "originator", required=True),
        recipient=get_recipient(data, "recipient", required=False),
        body=get_body(data, "body", "message"),
        received_at=get_timestamp(data, "createdDatetime"),
    )


# CSRF cannot apply: MessageBird holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@inbound_endpoint("MessageBird")
def messagebird_inbound(request: HttpRequest) -> HttpResponse:
    """Verify and store an SMS sent to one of our MessageBird numbers."""
    verify_messagebird(request)
    receive(parse_messagebird_inbound(get_report_fields(request)))
    return HttpResponse("", content_type="text/plain")
