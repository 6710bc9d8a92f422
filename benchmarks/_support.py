"""What the benchmarks share: signed status callbacks, backends for the fakes.

The benchmarks import nothing from ``tests/``; the test suite has its own
helpers in ``tests/support/``.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

from sms.backends.messagebird import SmsBackend as MessageBirdBackend
from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.testing.signing import (
    messagebird_signature,
    twilio_signature,
    twilio_status_fields,
)

TWILIO_AUTH_TOKEN = "twilio-auth-token-for-benchmarks-0123456789"
MESSAGEBIRD_SIGNING_KEY = "messagebird-signing-key-for-benchmarks-0123456789"
TWILIO_PATH = "/sms/receipts/twilio/"
MESSAGEBIRD_PATH = "/sms/receipts/messagebird/"
FORM = "application/x-www-form-urlencoded"
RECEIPT_SETTINGS = {
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "MESSAGEBIRD_SIGNING_KEY": MESSAGEBIRD_SIGNING_KEY,
    "SMS_WEBHOOK_BASE_URL": None,
}


def signed_twilio_callback(sid: str, status: str, to: str) -> tuple[str, dict]:
    """Return the form body and headers of Twilio's status callback for ``sid``."""
    fields = twilio_status_fields(sid, status, to)
    url = "http://testserver" + TWILIO_PATH
    signature = twilio_signature(url, fields, TWILIO_AUTH_TOKEN)
    return urlencode(fields), {"HTTP_X_TWILIO_SIGNATURE": signature}


def signed_messagebird_report(message_id: str, status: str, recipient: str):
    """Return the path and headers of MessageBird's status report for an id."""
    query = urlencode(
        {
            "id": message_id,
            "reference": "",
            "recipient": recipient,
            "status": status,
            "statusDatetime": "2026-05-03T08:58:10+00:00",
        }
    )
    path = f"{MESSAGEBIRD_PATH}?{query}"
    token = messagebird_signature("http://testserver" + path, MESSAGEBIRD_SIGNING_KEY)
    return path, {"HTTP_MESSAGEBIRD_SIGNATURE_JWT": token}


class FakeUrlBackendMixin:
    """Point a real provider backend at a fake server: ``api_url`` from ``fake_url``.

    The drain builds its connections from ``SMS_OUTBOX_BACKEND`` alone, so the
    fake's URL comes from the class's ``fake_url`` or ``OUTBOX_FAKE_URL``.
    """

    fake_url: str | None = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "api_url", type(self).fake_url or os.environ.get("OUTBOX_FAKE_URL")
        )
        super().__init__(*args, **kwargs)


class FakeTwilioBackend(FakeUrlBackendMixin, TwilioBackend):
    """The real Twilio backend, pointed at a ``sms.testing.FakeTwilio``."""


class FakeMessageBirdBackend(FakeUrlBackendMixin, MessageBirdBackend):
    """The real MessageBird backend, pointed at a ``sms.testing.FakeMessageBird``."""
