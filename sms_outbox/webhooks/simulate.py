"""Sign an inbound-SMS webhook the way Twilio or MessageBird would, to test a site."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms.testing.signing import messagebird_signature

try:
    from twilio.request_validator import RequestValidator as TwilioValidator
except ImportError:  # the optional extra django-sms[twilio]
    TwilioValidator = None

try:
    import jwt
except ImportError:  # comes with the optional extra django-sms[messagebird]
    jwt = None  # type: ignore[assignment]

PROVIDERS = ("twilio", "messagebird")


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

    Signed with ``TWILIO_AUTH_TOKEN`` or ``MESSAGEBIRD_SIGNING_KEY``, the
    secrets the endpoints verify with. Numbers are E.164; MessageBird's lose
    their ``+`` as MessageBird sends them. Each call gets a new message id.
    """
    if provider == "twilio":
        return _twilio(url, sender, recipient, body)
    if provider == "messagebird":
        return _messagebird(url, sender, recipient, body)
    raise ValueError(f"Unknown provider {provider!r}: use one of {PROVIDERS}.")


def _secret(name: str) -> str:
    value: str | None = get_setting(name)
    if not value:
        raise SmsConfigurationError(
            f"{name} is not set: the simulated webhook is signed with it, as the "
            f"endpoint verifies it. Set {name} in your settings."
        )
    return value


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
