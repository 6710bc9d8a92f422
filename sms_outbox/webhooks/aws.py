"""Amazon's inbound SMS: the SNS signature check and the subscription endpoint.

AWS End User Messaging SMS (two-way SMS) publishes every SMS sent to one of
our numbers to an SNS topic; SNS POSTs it here as a signed JSON message whose
``Message`` field is the SMS, itself a JSON string. SNS signs each message
with the private key of a certificate it serves from ``SigningCertURL``:
``SignatureVersion`` "1" is SHA1withRSA, "2" SHA256withRSA, both over a
canonical string of the message's fields (see ``canonical_string``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import logging
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import get_setting
from sms_outbox.inbound import InboundSms, receive
from sms_outbox.webhooks.base import (
    MAX_CLOCK_AHEAD,
    get_body,
    get_recipient,
    webhook_endpoint,
)

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError:  # the optional extra django-sms[aws]
    x509 = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: The hosts SNS serves certificates and subscription URLs from:
#: ``sns.<region>.amazonaws.com`` (GovCloud regions are ``us-gov-<...>-<n>``)
#: and, in China, ``sns.cn-<...>-<n>.amazonaws.com.cn``. Nothing else under
#: amazonaws.com: S3 bucket hosts such as ``sns.s3.amazonaws.com`` serve
#: whatever their owner uploads.
SNS_HOST = re.compile(
    r"sns\.(?:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]{1,2}\.amazonaws\.com"
    r"|cn-[a-z]+-[0-9]{1,2}\.amazonaws\.com\.cn)"
)

#: The path of an SNS signing certificate.
CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9A-Za-z]+\.pem")

#: The fields every SNS message has, all strings. Missing signature fields are
#: left to ``verify_sns``: an unsigned message is forged (403), not malformed.
ENVELOPE = ("Type", "MessageId", "TopicArn", "Message", "Timestamp")

#: The fields signed, in order, for each message type. ``Subject`` is signed
#: only when the message has one.
SIGNED_FIELDS = {
    "Notification": (
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]

#: How old a message's signed ``Timestamp`` may be. SNS retries a delivery
#: for about an hour by default; a captured message replayed later is refused.
MAX_AGE = datetime.timedelta(hours=1)

#: Seconds to wait for SNS when fetching a certificate or confirming.
FETCH_TIMEOUT = 10

#: Seconds a failed certificate fetch is remembered, per URL and per topic:
#: no certificate is fetched again for them until then (the message gets a
#: 503, which SNS retries), so a stream of forged messages naming a listed
#: topic cannot make this server fetch again and again.
FAILURE_TTL = 60

#: Public keys by certificate URL; SNS rotates its certificate rarely.
_keys: dict[str, rsa.RSAPublicKey] = {}
_failures: dict[str, float] = {}
_MAX_KEYS = 16


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Follow no redirect: the allowlist checked the URL asked, not a new one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get_list_setting(name: str) -> tuple[str, ...]:
    """Return the list setting ``name`` as a tuple; a lone string is a mistake."""
    value = get_setting(name) or ()
    if isinstance(value, str):
        raise SmsConfigurationError(
            f"{name} is the string {value!r}: set it to a list of strings, "
            f"such as [{value!r}]."
        )
    return tuple(value)


def is_sns_url(url: str, *, certificate: bool = False) -> bool:
    """Return True if ``url`` is one SNS serves: https on ``sns.<region>...``.

    With ``certificate``, the path must also be a signing certificate's,
    ``/SimpleNotificationService-<id>.pem``, with no query string. A host (or
    ``host:port``) in ``AWS_SNS_CERT_HOSTS`` is also accepted, over http or
    https: that setting exists for a local fake SNS in tests.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if certificate and (
        not CERT_PATH.fullmatch(parts.path) or parts.query or parts.fragment
    ):
        return False
    host = parts.hostname or ""
    extra = get_list_setting("AWS_SNS_CERT_HOSTS")
    if host and (parts.netloc in extra or host in extra):
        return parts.scheme in ("http", "https")
    return (
        parts.scheme == "https"
        and port is None
        and SNS_HOST.fullmatch(host) is not None
        and "@" not in parts.netloc
    )


def canonical_string(message: dict[str, Any]) -> bytes:
    """Return the bytes SNS signed: ``name\\nvalue\\n`` for each signed field."""
    fields = SIGNED_FIELDS[message["Type"]]
    lines = []
    for name in fields:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def fetch(url: str) -> bytes:
    """GET ``url`` from SNS and return the body; raise ``OSError`` on failure.

    Redirects are not followed (a 3xx is a failure): the URL was checked
    against the SNS hosts, the place it redirects to was not.
    """
    # Only URLs that passed is_sns_url() get here: http(s) to SNS or a listed host.
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(url, timeout=FETCH_TIMEOUT) as response:
        return bytes(response.read(64 * 1024))


def _recently_failed(*keys: str) -> bool:
    now = time.monotonic()
    for key, until in list(_failures.items()):
        if until <= now:
            del _failures[key]
    return any(key in _failures for key in keys)


def _public_key(url: str, topic: str) -> rsa.RSAPublicKey:
    """Return the RSA key in the certificate at ``url``, fetched once per URL.

    Raise ``OSError`` without fetching when a fetch of ``url``, or for
    ``topic``, failed within ``FAILURE_TTL`` seconds.
    """
    key = _keys.get(url)
    if key is not None:
        return key
    if _recently_failed(url, topic):
        raise OSError("A certificate fetch for this message failed recently.")
    try:
        cert = x509.load_pem_x509_certificate(fetch(url))
        loaded = cert.public_key()
    except (OSError, ValueError) as err:
        until = time.monotonic() + FAILURE_TTL
        _failures[url] = _failures[topic] = until
        if isinstance(err, OSError):
            raise
        raise PermissionDenied("SigningCertURL holds no PEM certificate.") from err
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise PermissionDenied("The SNS signing certificate is not RSA.")
    if len(_keys) >= _MAX_KEYS:
        _keys.clear()
    key = _keys[url] = loaded
    return key


def _check_age(message: dict[str, Any]) -> None:
    """Raise ``PermissionDenied`` unless the message's ``Timestamp`` is recent."""
    try:
        stamp = parse_datetime(message["Timestamp"])
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise PermissionDenied("The SNS Timestamp is not an ISO 8601 UTC time.")
    now = datetime.datetime.now(datetime.timezone.utc)
    if stamp < now - MAX_AGE or stamp > now + MAX_CLOCK_AHEAD:
        logger.warning("Refused an SNS message stamped %s.", message["Timestamp"])
        raise PermissionDenied("The SNS Timestamp is more than an hour old.")


def verify_sns(message: dict[str, Any]) -> None:
    """Raise ``PermissionDenied`` unless SNS signed ``message`` and its topic is ours.

    The topic, the ``Timestamp`` (at most ``MAX_AGE`` old) and the certificate
    URL are checked before any certificate is fetched. Fetching it may raise
    ``OSError`` (SNS unreachable): the caller answers 503 so SNS retries later.
    """
    if x509 is None:
        raise SmsImproperlyInstalled("cryptography", "aws")
    topics = get_list_setting("AWS_SNS_INBOUND_TOPIC_ARNS")
    if message["TopicArn"] not in topics:
        raise PermissionDenied("The SNS TopicArn is not in AWS_SNS_INBOUND_TOPIC_ARNS.")
    _check_age(message)
    version = message.get("SignatureVersion")
    hashers = {"1": hashes.SHA1, "2": hashes.SHA256}
    hasher = hashers.get(version) if isinstance(version, str) else None
    if hasher is None:
        raise PermissionDenied("The SNS SignatureVersion is not 1 or 2.")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str) or not is_sns_url(cert_url, certificate=True):
        raise PermissionDenied(
            "The SNS SigningCertURL is not an SNS certificate's https URL."
        )
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, TypeError) as err:
        raise PermissionDenied("The SNS Signature is not base64.") from err
    key = _public_key(cert_url, message["TopicArn"])
    try:
        key.verify(signature, canonical_string(message), padding.PKCS1v15(), hasher())
    except InvalidSignature as err:
        raise PermissionDenied("The SNS signature does not match.") from err


def _load_json(raw: bytes | str, what: str) -> dict[str, Any]:
    """Return the JSON object in ``raw`` or raise ``BadRequest`` naming ``what``."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequest(f"The {what} is not JSON.") from err
    if not isinstance(data, dict):
        raise BadRequest(f"The {what} is not a JSON object.")
    return data


def parse_envelope(request: HttpRequest) -> dict[str, Any]:
    """Return the SNS message posted, its fields checked, or raise ``BadRequest``."""
    message = _load_json(request.body, "SNS message")
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise BadRequest(f"The SNS Type is not one of {sorted(SIGNED_FIELDS)}.")
    header = request.headers.get("x-amz-sns-message-type")
    if header is not None and header != kind:
        raise BadRequest("The x-amz-sns-message-type header differs from the Type.")
    for name in SIGNED_FIELDS[kind] + ENVELOPE:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"The SNS field {name!r} is missing or not a string.")
    return message


def parse_aws_inbound(text: str) -> InboundSms:
    """Return the inbound SMS in the SNS ``Message`` text, or raise ``BadRequest``.

    ``originationNumber`` texted ``destinationNumber`` (our number), both
    E.164; ``inboundMessageId`` is unique per SMS.
    """
    payload = _load_json(text, "SNS Message")
    fields = QueryDict(mutable=True)
    for name, value in payload.items():
        if isinstance(value, str):
            fields[name] = value
        elif value is not None:
            raise BadRequest(f"The field {name!r} is not a string.")
    message_id = fields.get("inboundMessageId", "").strip()
    if not message_id or len(message_id) > 64:
        raise BadRequest("The field 'inboundMessageId' is missing or too long.")
    return InboundSms(
        provider="aws",
        provider_message_id=message_id,
        sender=get_recipient(fields, "originationNumber", required=True),
        recipient=get_recipient(fields, "destinationNumber", required=False),
        body=get_body(fields, "messageBody"),
    )


def _confirm(message: dict[str, Any]) -> None:
    """Confirm the subscription by GETting its ``SubscribeURL`` (no redirects)."""
    url = message["SubscribeURL"]
    if not is_sns_url(url):
        raise PermissionDenied("The SNS SubscribeURL is not an SNS https URL.")
    fetch(url)
    logger.info("Confirmed the SNS subscription to %s.", message["TopicArn"])


# CSRF cannot apply: SNS holds no token. The signature replaces it.
@csrf_exempt
@require_http_methods(["POST"])
@webhook_endpoint("Amazon SNS", "inbound SMS")
def aws_inbound(request: HttpRequest) -> HttpResponse:
    """Verify an SNS message, then confirm the subscription or store the SMS.

    SNS retries a message answered with a 5xx, so an SNS we could not reach
    (for the certificate or the confirmation) gets a 503.
    """
    message = parse_envelope(request)
    try:
        verify_sns(message)
        if message["Type"] == "SubscriptionConfirmation":
            _confirm(message)
    except urllib.error.HTTPError as err:
        if 300 <= err.code < 400:
            location = err.headers.get("Location")
            logger.warning("Refused to follow an SNS redirect to %s.", location)
            raise PermissionDenied("SNS answered with a redirect: refused.") from err
        logger.warning("Could not reach Amazon SNS: %s", err)
        return HttpResponse("SNS unreachable.", status=503, content_type="text/plain")
    except OSError as err:
        logger.warning("Could not reach Amazon SNS: %s", err)
        return HttpResponse("SNS unreachable.", status=503, content_type="text/plain")
    if message["Type"] == "Notification":
        receive(parse_aws_inbound(message["Message"]))
    return HttpResponse("", content_type="text/plain")
