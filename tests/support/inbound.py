"""Sign inbound-SMS webhooks the way Twilio, MessageBird and Vonage do."""

import json
import time
from urllib.parse import urlencode

from tests.support.receipts import (
    FORM,
    VONAGE,
    messagebird_jwt,
    twilio_signature,
)

TWILIO_INBOUND = "/sms/inbound/twilio/"
MESSAGEBIRD_INBOUND = "/sms/inbound/messagebird/"
CUSTOMER = "+441134960000"
OUR_NUMBER = "+12065550100"


def twilio_inbound_fields(sid, body, sender=CUSTOMER, to=OUR_NUMBER, **more):
    """Return the fields Twilio posts for an SMS to one of our numbers."""
    fields = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    fields.update(more)
    return fields


def post_twilio_inbound(client, fields, *, signature=None):
    """POST ``fields`` form-encoded, signed for the test URL unless given one."""
    if signature is None:
        signature = twilio_signature("http://testserver" + TWILIO_INBOUND, fields)
    return client.post(
        TWILIO_INBOUND,
        urlencode(fields),
        content_type=FORM,
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def messagebird_inbound_fields(message_id, body, sender="441134960000", **more):
    """Return the fields MessageBird sends for an SMS to our virtual number."""
    fields = {
        "id": message_id,
        "recipient": "12065550100",
        "originator": sender,
        "body": body,
        "createdDatetime": "2026-05-03T08:58:10+00:00",
    }
    fields.update(more)
    return fields


def get_messagebird_inbound(client, fields):
    """GET the webhook with ``fields`` in the query string, signed."""
    path = f"{MESSAGEBIRD_INBOUND}?{urlencode(fields)}"
    token = messagebird_jwt("http://testserver" + path)
    return client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token)


def post_messagebird_inbound(client, fields, *, as_json=False):
    """POST ``fields`` form-encoded (or as JSON), signed."""
    if as_json:
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = urlencode(fields).encode(), FORM
    token = messagebird_jwt("http://testserver" + MESSAGEBIRD_INBOUND, body)
    return client.generic(
        "POST",
        MESSAGEBIRD_INBOUND,
        body,
        content_type,
        HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
    )


VONAGE_INBOUND = "/sms/inbound/vonage/"


def vonage_sign(fields, secret=VONAGE.signature_secret):
    """Return ``fields`` with the ``sig`` Vonage computes over them."""
    from vonage import Auth

    auth = Auth(
        api_key="-", signature_secret=secret, signature_method=VONAGE.signature_method
    )
    fields = dict(fields)
    fields.pop("sig", None)
    fields["sig"] = auth.sign_params(dict(fields))
    return fields


def vonage_inbound_fields(message_id, text, sender="441134960000", **more):
    """Return the signed fields Vonage sends for an SMS to our virtual number."""
    fields = {
        "msisdn": sender,
        "to": "12065550100",
        "messageId": message_id,
        "text": text,
        "type": "text",
        "keyword": text.split()[0].upper() if text.split() else "",
        "message-timestamp": "2026-11-30 12:00:05",
        "timestamp": str(int(time.time())),
        "nonce": "b5c2f1e0a9d8c7b6",
    }
    fields.update(more)
    return vonage_sign(fields)


def send_vonage_inbound(client, fields, how="json"):
    """Send ``fields`` as Vonage does: a GET, a form POST or a JSON POST."""
    if how == "get":
        return client.get(f"{VONAGE_INBOUND}?{urlencode(fields)}")
    if how == "form":
        return client.post(VONAGE_INBOUND, urlencode(fields), content_type=FORM)
    return client.post(
        VONAGE_INBOUND, json.dumps(fields), content_type="application/json"
    )
