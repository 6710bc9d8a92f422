"""Sign webhook requests the way providers do, for fakes, tests and simulations."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any


def messagebird_signature(url: str, key: str, body: bytes = b"", **claims: Any) -> str:
    """Return the ``MessageBird-Signature-JWT`` header for a request to ``url``.

    HS256 over iss, nbf, exp, jti, url_hash and, with a body, payload_hash: what
    MessageBird documents and its SDK's ``RequestValidator`` checks. ``claims``
    override or add claims (tests build bad tokens this way). Needs PyJWT,
    which the messagebird and twilio SDKs bring along.
    """
    import jwt

    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": "MessageBird",
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        payload["payload_hash"] = hashlib.sha256(body).hexdigest()
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="HS256")


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """Return the ``X-Twilio-Signature`` header Twilio sends with ``params`` to ``url``.

    Computed by the twilio SDK's own ``RequestValidator``, so it needs the
    twilio package.
    """
    from twilio.request_validator import RequestValidator

    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature


def twilio_status_fields(sid: str, status: str, to: str) -> dict[str, str]:
    """Return the form fields of Twilio's status callback for message ``sid``."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+14155552671",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": to,
    }
