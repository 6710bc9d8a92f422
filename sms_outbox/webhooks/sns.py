"""Check Amazon SNS's message signatures: the signing certificate and the topic.

SNS signs each message it POSTs to an HTTP(S) subscription with the private
key of a certificate it serves from ``SigningCertURL``. ``SignatureVersion``
"1" is SHA1withRSA, "2" SHA256withRSA, both over a canonical string of the
message's fields (see ``canonical_string``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied

from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import get_setting

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError:  # the optional extra django-sms[aws]
    x509 = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: The hosts SNS serves certificates and subscription URLs from.
SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")

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

#: Seconds to wait for SNS when fetching a certificate or confirming.
FETCH_TIMEOUT = 10

#: Public keys by certificate URL; SNS rotates its certificate rarely.
_keys: dict[str, rsa.RSAPublicKey] = {}
_MAX_KEYS = 16


def get_list_setting(name: str) -> tuple[str, ...]:
    """Return the list setting ``name`` as a tuple; a lone string is a mistake."""
    value = get_setting(name) or ()
    if isinstance(value, str):
        raise SmsConfigurationError(
            f"{name} is the string {value!r}: set it to a list of strings, "
            f"such as [{value!r}]."
        )
    return tuple(value)


def is_sns_url(url: str) -> bool:
    """Return True if ``url`` is one SNS serves: https on ``sns.<region>...``.

    A host (or ``host:port``) in ``AWS_SNS_CERT_HOSTS`` is also accepted, over
    http or https: that setting exists for a local fake SNS in tests.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
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
    """GET ``url`` from SNS and return the body; raise ``OSError`` on failure."""
    # Only URLs that passed is_sns_url() get here: http(s) to SNS or a listed host.
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
        return bytes(response.read(64 * 1024))


def _public_key(url: str) -> rsa.RSAPublicKey:
    """Return the RSA key in the certificate at ``url``, fetched once per URL."""
    key = _keys.get(url)
    if key is None:
        try:
            cert = x509.load_pem_x509_certificate(fetch(url))
        except ValueError as err:
            raise PermissionDenied("SigningCertURL holds no PEM certificate.") from err
        loaded = cert.public_key()
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise PermissionDenied("The SNS signing certificate is not RSA.")
        if len(_keys) >= _MAX_KEYS:
            _keys.clear()
        key = _keys[url] = loaded
    return key


def verify_sns(message: dict[str, Any]) -> None:
    """Raise ``PermissionDenied`` unless SNS signed ``message`` and its topic is ours.

    Fetching the certificate may raise ``OSError`` (SNS unreachable): the
    caller answers 503 so SNS retries later.
    """
    if x509 is None:
        raise SmsImproperlyInstalled("cryptography", "aws")
    topics = get_list_setting("AWS_SNS_INBOUND_TOPIC_ARNS")
    # The topic first: no certificate is fetched for a topic we never listed.
    if message["TopicArn"] not in topics:
        raise PermissionDenied("The SNS TopicArn is not in AWS_SNS_INBOUND_TOPIC_ARNS.")
    version = message.get("SignatureVersion")
    hashers = {"1": hashes.SHA1, "2": hashes.SHA256}
    hasher = hashers.get(version) if isinstance(version, str) else None
    if hasher is None:
        raise PermissionDenied("The SNS SignatureVersion is not 1 or 2.")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str) or not is_sns_url(cert_url):
        raise PermissionDenied("The SNS SigningCertURL is not an SNS https URL.")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, TypeError) as err:
        raise PermissionDenied("The SNS Signature is not base64.") from err
    key = _public_key(cert_url)
    try:
        key.verify(signature, canonical_string(message), padding.PKCS1v15(), hasher())
    except InvalidSignature as err:
        raise PermissionDenied("The SNS signature does not match.") from err
