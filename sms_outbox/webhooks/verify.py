"""Check the providers' webhook signatures with their SDKs' own validators."""

from __future__ import annotations

import logging
import time
from typing import cast
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, QueryDict

from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import get_setting

try:
    from twilio import request_validator as twilio_validator
except ImportError:  # the optional extra django-sms[twilio]
    twilio_validator = None

try:
    from messagebird.error import ValidationError as MessageBirdValidationError
    from messagebird.request_validator import (
        RequestValidator as MessageBirdRequestValidator,
    )
except ImportError:  # the optional extra django-sms[messagebird]
    MessageBirdRequestValidator = None

try:
    from vonage import Auth as VonageAuth
except ImportError:  # the optional extra django-sms[vonage]
    VonageAuth = None

logger = logging.getLogger(__name__)

#: How old the signed ``timestamp`` of a Vonage webhook (a receipt or an
#: inbound SMS) may be, in seconds: a captured one cannot be replayed later.
VONAGE_MAX_AGE = 300


def get_public_url(request: HttpRequest) -> str:
    """Return the URL the provider called: scheme, host, path and query string.

    ``SMS_WEBHOOK_BASE_URL`` (``https://sms.example.com``) pins the scheme and
    host when the proxy in front of Django rewrites them; otherwise Django's
    ``build_absolute_uri()`` applies, which honours ``SECURE_PROXY_SSL_HEADER``
    and ``USE_X_FORWARDED_HOST``.
    """
    base = get_setting("SMS_WEBHOOK_BASE_URL")
    if not base:
        return request.build_absolute_uri()
    parts = urlsplit(base)
    # A path would be dropped here (the request's own path follows the host),
    # and every signature would then fail: refuse it instead.
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SmsConfigurationError(
            f"SMS_WEBHOOK_BASE_URL is {base!r}: set it to the scheme and host the "
            "providers call, such as 'https://sms.example.com'."
        )
    return f"{parts.scheme}://{parts.netloc}{request.get_full_path()}"


def require_secret(name: str, needed_for: str = "verify webhooks") -> str:
    """Return the signing secret setting ``name``; raise if it is not set."""
    value: str | None = get_setting(name)
    if not value:
        raise SmsConfigurationError(
            f"{name} is not set, and it is needed to {needed_for} (delivery "
            f"receipts, inbound SMS). Set {name} in your settings."
        )
    return value


def verify_twilio(request: HttpRequest) -> None:
    """Raise ``PermissionDenied`` unless Twilio signed this request.

    The ``X-Twilio-Signature`` header must match the HMAC, keyed with
    ``TWILIO_AUTH_TOKEN``, over the public URL and every posted field. The
    HMAC named in ``X-Twilio-Webhooks-Signature-Settings`` is honoured, but
    always keyed with the auth token: webhooks signed with a Twilio SharedKey
    secret are refused.
    """
    if twilio_validator is None:
        raise SmsImproperlyInstalled("twilio", "twilio")
    validator = twilio_validator.RequestValidator(require_secret("TWILIO_AUTH_TOKEN"))
    signature = request.headers.get("X-Twilio-Signature", "")
    options = {}
    settings_header = request.headers.get("X-Twilio-Webhooks-Signature-Settings")
    # twilio releases that sign with a choice of HMAC name it in this header.
    if settings_header and hasattr(twilio_validator, "get_signature_algorithm"):
        options["algorithm"] = twilio_validator.get_signature_algorithm(settings_header)
    url = get_public_url(request)
    if not signature or not validator.validate(url, request.POST, signature, **options):
        logger.warning("Refused a Twilio status callback with a bad signature.")
        raise PermissionDenied("The X-Twilio-Signature header does not match.")


def verify_messagebird(request: HttpRequest) -> None:
    """Raise ``PermissionDenied`` unless MessageBird signed this request.

    The ``MessageBird-Signature-JWT`` header must be a JWT signed with
    ``MESSAGEBIRD_SIGNING_KEY`` (not the access key) whose claims hash the
    public URL, query string included, and the raw body.
    """
    if MessageBirdRequestValidator is None:
        raise SmsImproperlyInstalled("messagebird", "messagebird")
    validator = MessageBirdRequestValidator(require_secret("MESSAGEBIRD_SIGNING_KEY"))
    signature = request.headers.get("MessageBird-Signature-JWT", "")
    url = get_public_url(request)
    try:
        validator.validate_signature(signature, url, request.body)
    # The SDK indexes and compares claims unchecked: a validly signed token
    # without url_hash, or with a non-string hash, fails with these instead.
    except (MessageBirdValidationError, KeyError, TypeError) as err:
        logger.warning(
            "Refused a MessageBird status report with a bad signature: %s",
            getattr(err, "message", type(err).__name__),
        )
        raise PermissionDenied(
            "The MessageBird-Signature-JWT header is invalid."
        ) from err


def verify_vonage(fields: QueryDict) -> None:
    """Raise ``PermissionDenied`` unless Vonage signed these webhook fields.

    Delivery receipts and inbound SMS are signed alike.

    The ``sig`` field must be the HMAC (``VONAGE_SIGNATURE_METHOD``), keyed
    with ``VONAGE_SIGNATURE_SECRET``, over every other field, as the SDK's
    ``Auth.check_signature()`` computes it; the signed ``timestamp`` must be
    at most five minutes from now.
    """
    if VonageAuth is None:
        raise SmsImproperlyInstalled("vonage", "vonage")
    secret = require_secret("VONAGE_SIGNATURE_SECRET")
    method = get_setting("VONAGE_SIGNATURE_METHOD")
    if method not in ("md5", "sha1", "sha256", "sha512"):
        raise SmsConfigurationError(
            f"VONAGE_SIGNATURE_METHOD is {method!r}: set it to the signature "
            "method of your Vonage account: 'md5', 'sha1', 'sha256' or 'sha512'."
        )
    # A parsed QueryDict has a value for every key; the stubs allow a list.
    params = cast("dict[str, str]", {name: fields[name] for name in fields})
    auth = VonageAuth(api_key="-", signature_secret=secret, signature_method=method)
    try:
        age = abs(time.time() - int(params.get("timestamp", "")))
    except (ValueError, OverflowError):
        age = None
    if not params.get("sig") or age is None or age > VONAGE_MAX_AGE:
        logger.warning("Refused a Vonage webhook without a fresh signed timestamp.")
        raise PermissionDenied("The Vonage webhook is not signed, or not recently.")
    # The SDK's compare_digest raises TypeError for a non-ASCII sig.
    if not params["sig"].isascii() or not auth.check_signature(params):
        logger.warning("Refused a Vonage webhook with a bad signature.")
        raise PermissionDenied("The Vonage webhook's sig does not match.")
