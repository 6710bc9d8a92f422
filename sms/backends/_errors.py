"""Map provider HTTP statuses and transport errors onto ``sms.exceptions``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from sms.backends._outcomes import Fault
from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientRejected,
    SmsSendError,
)
from sms.masking import mask_text
from sms.phone import mask_phone_number

try:
    import requests
    from urllib3.exceptions import ProtocolError
except ImportError:  # only the provider SDKs bring requests along
    requests = ProtocolError = None  # type: ignore[assignment,misc]

_DISPLAY_NAMES = {
    "twilio": "Twilio",
    "messagebird": "MessageBird",
    "aws": "Amazon SNS",
    "vonage": "Vonage",
}


def scrub_exception(err: BaseException) -> BaseException:
    """Mask ``err`` and the exceptions it chains (``mask_text()``); return ``err``.

    Our own errors carry masked numbers, but the SDK error chained to them as
    ``__cause__`` quotes the provider's text, number included, and a logged
    traceback prints it. Its ``args`` and string attributes (Twilio's ``msg``,
    Vonage's ``message``) are masked in place: the exception is ours to keep.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            mask_text(arg) if isinstance(arg, str) else arg for arg in current.args
        )
        for name, value in list(getattr(current, "__dict__", {}).items()):
            if isinstance(value, str):
                setattr(current, name, mask_text(value))
        current = current.__cause__ or current.__context__
    return err


def class_for_status(status: int | None) -> type[SmsSendError]:
    """Return the error class for an HTTP status the provider gave no code for.

    401 and 403 are the account's problem, 429 asks us to slow down, 5xx is
    the provider's (retry later), and any other 4xx is about this message.
    """
    if status in (401, 403):
        return ProviderAccountError
    if status == 429:
        return ProviderThrottled
    if status is None or status >= 500:
        return ProviderUnavailable
    return RecipientRejected


def provider_error(
    cls: type[SmsSendError],
    provider: str,
    recipient: str,
    detail: object,
    *,
    status: int | None = None,
    code: str | int | None = None,
    retry_after: str | None = None,
) -> SmsSendError:
    """Build a ``cls`` error about ``recipient``, masked, from the provider's answer.

    A ``ProviderThrottled`` carries ``retry_after``, the answer's
    ``Retry-After`` header read as seconds.
    """
    masked = mask_phone_number(recipient)
    facts = ", ".join(
        part
        for part in (
            f"HTTP {status}" if status is not None else "",
            f"code {code}" if code is not None else "",
        )
        if part
    )
    name = _DISPLAY_NAMES.get(provider, provider)
    verb = "did not confirm" if issubclass(cls, OutcomeUnknown) else "did not take"
    text = f"{name} {verb} the SMS to {masked}: {mask_text(detail).rstrip('.')}"
    extra: dict[str, Any] = {}
    if issubclass(cls, ProviderThrottled):
        extra["retry_after"] = seconds_to_wait(retry_after)
    return cls(
        f"{text} ({facts})." if facts else f"{text}.",
        provider=provider,
        code=code,
        recipient=masked,
        **extra,
    )


def seconds_to_wait(retry_after: str | None) -> float | None:
    """Return a ``Retry-After`` value (seconds, or an HTTP date) as seconds.

    None when the header is missing or unreadable; never negative.
    """
    if not retry_after:
        return None
    text = retry_after.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def fault_error(
    provider: str,
    error_classes: Mapping[object, type[SmsSendError]],
    recipient: str,
    fault: Fault,
) -> SmsSendError:
    """Return the error for what ``provider`` said about ``recipient``.

    The class comes from the provider's table by code, else the fault's own
    fallback, else the HTTP status.
    """
    cls = (
        error_classes.get(fault.code)
        or fault.fallback
        or class_for_status(fault.status)
    )
    return provider_error(
        cls,
        provider,
        recipient,
        fault.detail or "refused",
        status=fault.status,
        code=fault.code,
        retry_after=fault.retry_after,
    )


#: How each kind of transport failure is reported: a request that never left
#: can be retried; one that may have reached the provider is OutcomeUnknown.
TRANSPORT_FAILURES = {
    "connect_timeout": (ProviderUnavailable, "no connection"),
    "timeout": (OutcomeUnknown, "no answer in time"),
    "connection_aborted": (OutcomeUnknown, "connection lost"),
    "connection_error": (ProviderUnavailable, "cannot connect"),
    "transport_error": (ProviderUnavailable, "transport error"),
}


def transport_failure(provider: str, recipient: str, kind: str) -> SmsSendError:
    """Build the error for a ``TRANSPORT_FAILURES`` kind about ``recipient``."""
    cls, reason = TRANSPORT_FAILURES[kind]
    if cls is OutcomeUnknown:
        reason += " after the request was sent; the SMS may have gone out"
    return provider_error(cls, provider, recipient, reason, code=kind)


def transport_error(provider: str, recipient: str, err: Exception) -> SmsSendError:
    """Map a ``requests`` error raised while talking to ``provider``.

    A failure to connect means the request never left: retry later. A read
    timeout, or a connection that broke while we waited for the answer, means
    the provider may have taken the SMS: ``OutcomeUnknown``.
    """
    if isinstance(err, requests.ConnectTimeout):
        kind = "connect_timeout"
    elif isinstance(err, requests.Timeout):
        kind = "timeout"
    elif isinstance(err, requests.ConnectionError) and _broke_after_sending(err):
        kind = "connection_aborted"
    elif isinstance(err, requests.ConnectionError):
        kind = "connection_error"
    else:
        kind = "transport_error"
    return transport_failure(provider, recipient, kind)


def _broke_after_sending(err: requests.ConnectionError) -> bool:
    # requests wraps a failure to connect in MaxRetryError, and a connection
    # that dropped mid-exchange (reset, closed without an answer) in
    # ProtocolError ("Connection aborted.").
    return bool(err.args) and isinstance(err.args[0], ProtocolError)
