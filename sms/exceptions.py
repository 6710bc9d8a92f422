"""The exception tree of django-sms: one root for sending errors, one for setup."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "InvalidMessage",
    "InvalidPhoneNumber",
    "MessageTooLong",
    "OutcomeUnknown",
    "ProviderAccountError",
    "ProviderThrottled",
    "ProviderUnavailable",
    "RecipientOptedOut",
    "RecipientRejected",
    "SendRefused",
    "SmsBackendImportError",
    "SmsConfigurationError",
    "SmsError",
    "SmsImproperlyInstalled",
    "SmsSendError",
]


class SmsError(Exception):
    """Root of every error raised while building or sending an SMS.

    ``fail_silently=True`` swallows this class and nothing else.
    """


class InvalidPhoneNumber(SmsError, ValueError):
    """A recipient or originator is not a number (or sender id) that can be used."""


class InvalidMessage(SmsError, ValueError):
    """The message cannot be sent as it is (an empty body, for example)."""


class MessageTooLong(InvalidMessage):
    """The body needs more parts than ``SMS_MAX_SEGMENTS`` allows."""


class SmsSendError(SmsError):
    """A provider or its transport refused or failed to take a message.

    ``provider`` names the backend (``"twilio"``), ``code`` is the provider's
    error code when it gave one, ``recipient`` is the masked number the error is
    about, and ``retryable`` tells a queue whether trying again later can help.
    """

    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        provider: str | None = None,
        code: str | int | None = None,
        recipient: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.recipient = recipient
        if retryable is not None:
            self.retryable = retryable


class RecipientRejected(SmsSendError):
    """The provider refused this recipient or message; retrying will not help."""


class RecipientOptedOut(RecipientRejected):
    """The recipient opted out (replied STOP): no SMS may go to them until START.

    Raised by the outbox for a number on its suppression list, and by a provider
    backend for the provider's own opt-out error (Twilio 21610, Vonage status 7,
    Amazon SNS OptedOut).
    """


class SendRefused(SmsSendError):
    """A send guard refused the SMS before anything was stored or sent.

    ``rule`` names the guard that refused it (``"country"``,
    ``"limit:prefix"``, ``"blocked:prefix"``, ``"spend:day"``...; also
    ``code``), and ``recipient`` is the masked number. Raised for SMS pumping
    and spend protection (``SMS_GUARDS``); ``fail_silently`` skips the
    recipient like any other refusal.
    """

    def __init__(self, message: str = "", *, rule: str, recipient: str | None = None):
        super().__init__(message, code=rule, recipient=recipient)
        self.rule = rule


class ProviderUnavailable(SmsSendError):
    """The provider could not be reached or asked us to slow down; retry later."""

    retryable = True


class ProviderThrottled(ProviderUnavailable):
    """The provider refused the request because the account sends too fast.

    Nothing went out. ``retry_after`` is the seconds the provider asked us to
    wait (its ``Retry-After``), or None when it did not say. A queue slows the
    whole account down and tries the message again without counting an
    attempt.
    """

    def __init__(
        self, message: str = "", *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class OutcomeUnknown(ProviderUnavailable):
    """The request may have reached the provider, but no answer came back.

    Retrying may deliver the SMS twice; neither provider offers an idempotency
    key, so a queue retries these and records that it did.
    """


class ProviderAccountError(SmsSendError):
    """Credentials, balance or sender are refused: nothing can go until fixed."""


class SmsConfigurationError(ImproperlyConfigured):
    """A setting is missing or wrong. Outside ``SmsError``: never swallowed."""


class SmsBackendImportError(SmsConfigurationError, ImportError):
    """The backend path cannot be imported.

    Also an ``ImportError``, which ``get_connection()`` raised in django-sms 0.7.0
    (and ``django.core.mail`` raises), so existing ``except ImportError`` code
    keeps working.
    """


class SmsImproperlyInstalled(SmsConfigurationError, ImportError):
    """An optional SDK that a backend needs is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"The {package!r} package is required by this SMS backend but is not "
            f'installed. Install it with: pip install "django-sms[{extra}]"'
        )
        self.package = package
        self.extra = extra
