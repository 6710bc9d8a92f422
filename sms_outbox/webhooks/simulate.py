"""Sign an inbound-SMS webhook as Twilio, MessageBird or Vonage would, for tests."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from sms.exceptions import SmsImproperlyInstalled
from sms.testing.signing import messagebird_signature
from sms_outbox.conf import get_setting
from sms_outbox.webhooks.base import require_secret

try:
    from twilio.request_validator import RequestValidator as TwilioValidator
except ImportError:  # the optional extra django-sms[twilio]
    TwilioValidator = None

try:
    import jwt
except ImportError:  # comes with the optional extra django-sms[messagebird]
    jwt = None  # type: ignore[assignment]

try:
    from vonage import Auth as VonageAuth
except ImportError:  # the optional extra django-sms[vonage]
    VonageAuth = None

PROVIDERS = ("twilio", "messagebird", "vonage")


@dataclass(frozen=True)
class SignedRequest:
    """A webhook request ready to send: method, full URL, body and headers."""

    method: str
    url: str
    body: bytes
    headers: dict[str, str]


def sign_inbound(
    provider: str, url: str, sender: str, recipient: str, body: str
) -> SignedRequest:
    """Return the inbound webhook ``provider`` would send to ``url``, signed.

    Signed with ``TWILIO_AUTH_TOKEN``, ``MESSAGEBIRD_SIGNING_KEY`` or
    ``VONAGE_SIGNATURE_SECRET``, the secrets the endpoints verify with.
    Numbers are E.164; MessageBird's and Vonage's lose their ``+`` as those
    providers send them. Each call gets a new message id.
    """
    builders = {"twilio": _twilio, "messagebird": _messagebird, "vonage": _vonage}
    if provider in builders:
        return builders[provider](url, sender, recipient, body)
    raise ValueError(f"Unknown provider {provider!r}: use one of {PROVIDERS}.")


def _secret(name: str) -> str:
    return require_secret(name, "sign the simulated webhook as the endpoint checks")


def _twilio(url: str, sender: str, recipient: str, body: str) -> SignedRequest:
    if TwilioValidator is None:
        raise SmsImproperlyInstalled("twilio", "twilio")
    sid = "SM" + uuid.uuid4().hex
    fields = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": get_setting("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32,
        "From": sender,
        "To": recipient,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = TwilioValidator(_secret("TWILIO_AUTH_TOKEN")).compute_signature(
        url, fields
    )
    return SignedRequest(
        "POST",
        url,
        urlencode(fields).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def _messagebird(url: str, sender: str, recipient: str, body: str) -> SignedRequest:
    if jwt is None:
        raise SmsImproperlyInstalled("messagebird", "messagebird")
    fields = {
        "id": uuid.uuid4().hex,
        "originator": sender.lstrip("+"),
        "recipient": recipient.lstrip("+"),
        "body": body,
        "createdDatetime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    full_url = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}"
    token = messagebird_signature(full_url, _secret("MESSAGEBIRD_SIGNING_KEY"))
    return SignedRequest("GET", full_url, b"", {"MessageBird-Signature-JWT": token})


def _vonage(url: str, sender: str, recipient: str, body: str) -> SignedRequest:
    """Return Vonage's signed JSON POST (its "POST-JSON" webhook setting)."""
    if VonageAuth is None:
        raise SmsImproperlyInstalled("vonage", "vonage")
    now = time.time()
    fields = {
        "msisdn": sender.lstrip("+"),
        "to": recipient.lstrip("+"),
        "messageId": uuid.uuid4().hex[:16].upper(),
        "text": body,
        "type": "unicode" if any(ord(c) > 127 for c in body) else "text",
        "keyword": body.split()[0].upper() if body.split() else "",
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        "timestamp": str(int(now)),
        "nonce": secrets.token_hex(8),
    }
    auth = VonageAuth(
        api_key="-",
        signature_secret=_secret("VONAGE_SIGNATURE_SECRET"),
        signature_method=get_setting("VONAGE_SIGNATURE_METHOD"),
    )
    fields["sig"] = auth.sign_params(dict(fields))
    return SignedRequest(
        "POST",
        url,
        json.dumps(fields).encode(),
        {"Content-Type": "application/json"},
    )
