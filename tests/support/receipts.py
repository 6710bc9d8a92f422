"""Sign test callbacks the way Twilio, MessageBird and Vonage do, with their code."""

import time
import uuid
from urllib.parse import urlencode

from django.utils import timezone
from twilio.request_validator import RequestValidator

from sms.testing import FakeVonage
from sms.testing.signing import messagebird_signature, twilio_status_fields
from sms_outbox.models import Message

TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests-0123456789"
MESSAGEBIRD_SIGNING_KEY = "messagebird-signing-key-for-tests-0123456789"
TWILIO_PATH = "/sms/receipts/twilio/"
MESSAGEBIRD_PATH = "/sms/receipts/messagebird/"
FORM = "application/x-www-form-urlencoded"

SETTINGS = {
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "MESSAGEBIRD_SIGNING_KEY": MESSAGEBIRD_SIGNING_KEY,
    "SMS_WEBHOOK_BASE_URL": None,
}


def twilio_signature(url, fields, token=TWILIO_AUTH_TOKEN):
    """Return the X-Twilio-Signature Twilio would send for ``fields`` to ``url``."""
    return RequestValidator(token).compute_signature(url, fields)


def post_twilio(client, fields, *, url=None, path=TWILIO_PATH, **extra):
    """POST ``fields`` form-encoded, signed for ``url`` (default: the test URL)."""
    url = url or "http://testserver" + path
    return client.post(
        path,
        urlencode(fields),
        content_type=FORM,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(url, fields),
        **extra,
    )


def twilio_fields(sid, status, to="+441134960000", **more):
    """Return the fields of a Twilio status callback."""
    fields = twilio_status_fields(sid, status, to)
    fields.update(more)
    return fields


def messagebird_jwt(url, body=b"", key=MESSAGEBIRD_SIGNING_KEY, **claims):
    """Return a MessageBird-Signature-JWT for a request to ``url`` with ``body``."""
    return messagebird_signature(url, key, body, **claims)


def messagebird_query(
    message_id,
    status,
    recipient="31612345678",
    when="2026-05-03T08:58:10+00:00",
    **more,
):
    """Return the query string of a MessageBird status report."""
    fields = {
        "id": message_id,
        "reference": more.pop("reference", ""),
        "recipient": recipient,
        "status": status,
        "statusDatetime": when,
    }
    fields.update(more)
    return urlencode({k: v for k, v in fields.items() if v is not None})


def get_messagebird(client, query, *, url=None, path=MESSAGEBIRD_PATH, **extra):
    """GET a status report signed for ``url`` (default: the test URL)."""
    full_path = f"{path}?{query}"
    url = url or "http://testserver" + full_path
    return client.get(
        full_path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url), **extra
    )


def post_messagebird(client, body, content_type=FORM, *, path=MESSAGEBIRD_PATH):
    """POST a status report with ``body`` (bytes), signed for the test URL."""
    token = messagebird_jwt("http://testserver" + path, body)
    return client.generic(
        "POST", path, body, content_type, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token
    )


def make_row(recipient="+441134960000", provider_message_id="", **fields):
    """Create and return one sent outbox row."""
    return Message.objects.create(
        batch_id=fields.pop("batch_id", uuid.uuid4()),
        body="Your code is 1234",
        recipient=recipient,
        status=Message.Status.SENT,
        provider_message_id=provider_message_id,
        reference=fields.pop("reference", uuid.uuid4().hex),
        sent_at=timezone.now(),
        **fields,
    )


VONAGE_PATH = "/sms/receipts/vonage/"
VONAGE = FakeVonage()  # signs Vonage webhooks; its server is never started
VONAGE_SETTINGS = {
    "VONAGE_SIGNATURE_SECRET": VONAGE.signature_secret,
    "VONAGE_SIGNATURE_METHOD": VONAGE.signature_method,
}
VONAGE_ID = "0B00000123ABCD45"


def vonage_receipt(
    status="delivered", message_id=VONAGE_ID, msisdn="441134960000", **more
):
    """Return the fields of a Vonage receipt, signed as Vonage signs them."""
    fields = {
        "msisdn": msisdn,
        "to": "12065550100",
        "network-code": "23410",
        "messageId": message_id,
        "price": "0.03330000",
        "status": status,
        "scts": "2611301200",
        "err-code": "0",
        "api-key": VONAGE.api_key,
        "message-timestamp": "2026-11-30 12:00:05",
        "timestamp": str(int(time.time())),
        "nonce": "b5c2f1e0a9d8c7b6",
    }
    fields.update(more)
    fields["sig"] = VONAGE._auth().sign_params(dict(fields))
    return fields
