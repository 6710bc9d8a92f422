"""What the Twilio and MessageBird backends share: settings, session, results."""

from __future__ import annotations

import logging
from typing import Any

from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    OutcomeUnknown,
    ProviderAccountError,
    RecipientRejected,
    SmsConfigurationError,
    SmsSendError,
)
from sms.message import Message, RecipientResult
from sms.phone import mask_phone_number, normalize_phone_number, validate_originator

try:
    import requests
except ImportError:  # only the provider SDKs bring requests along
    requests = None

logger = logging.getLogger(__name__)


def status_for(error: SmsSendError) -> str:
    """Return the ``RecipientResult.status`` word recorded for ``error``."""
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, RecipientRejected):
        return "rejected"
    return "failed"


class ProviderBackend(BaseSmsBackend):
    """Base of the backends that hand messages to a provider's HTTP API.

    Subclasses set ``provider``, build ``self.client`` in ``__init__`` (keeping
    the HTTP client whose session this class manages in ``self._pooled``, or
    None when the caller passed their own) and implement ``_deliver()``.

    ``send_messages()`` checks each message before any network call, then tries
    every recipient: a wrong number does not stop the others. It records one
    ``RecipientResult`` per recipient, stops at once on a
    ``ProviderAccountError`` (nothing else can go), and finally raises the first
    error unless ``fail_silently`` is set.
    """

    provider = ""

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        timeout: float | None = None,
        api_url: str | None = None,
        status_callback: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.timeout = _read_timeout(timeout)
        self.api_url = api_url
        if status_callback is None:
            status_callback = get_setting("SMS_STATUS_CALLBACK_URL")
        self.status_callback: str | None = status_callback or None
        self._pooled: Any = None

    @staticmethod
    def _credential(value: str | None, setting: str, keyword: str) -> str:
        """Return ``value``, else the setting; raise naming both when neither is set."""
        if value is None:
            value = get_setting(setting)
        if not value:
            raise SmsConfigurationError(
                f"{setting} is not set: put it in your settings (from your "
                f"provider's console) or pass {keyword}= to get_connection()."
            )
        return value

    def open(self) -> bool:
        """Give the HTTP client a pooled session; return True if this call did.

        Return False when the session is already open or when the caller
        supplied their own HTTP client (its pooling is theirs).
        """
        if self._pooled is None or self._pooled.session is not None:
            return False
        self._pooled.session = requests.Session()
        return True

    def close(self) -> None:
        """Close the session that ``open()`` created, if any."""
        if self._pooled is not None and self._pooled.session is not None:
            session, self._pooled.session = self._pooled.session, None
            session.close()

    def send_messages(self, messages: list[Message]) -> int:
        """Send ``messages``; return how many went to every recipient."""
        if not messages:
            return 0
        opened = self.open()
        try:
            return self._send_all(messages)
        finally:
            if opened:
                self.close()

    def _send_all(self, messages: list[Message]) -> int:
        sent = 0
        first_error: SmsSendError | None = None
        for message in messages:
            message.results = []
        for message in messages:
            if not message.recipients:
                continue  # nothing sent, so not counted
            message.results = self._send_message(message)
            errors = [result.error for result in message.results if result.error]
            if not errors:
                sent += 1
                continue
            first_error = first_error or errors[0]
            if any(isinstance(error, ProviderAccountError) for error in errors):
                break
        if first_error is not None and not self.fail_silently:
            raise first_error from first_error.__cause__
        return sent

    def _send_message(self, message: Message) -> list[RecipientResult]:
        try:
            message.check_body()
        except InvalidMessage as err:
            return self._refuse_all(message, err, "invalid_message", str(err))
        try:
            originator = self._check_originator(message.originator)
        except InvalidPhoneNumber as err:
            return self._refuse_all(
                message, err, "invalid_originator", "its originator is not valid"
            )
        results: list[RecipientResult | None] = []
        numbers: list[str] = []
        for recipient in message.recipients:
            try:
                numbers.append(normalize_phone_number(recipient))
            except InvalidPhoneNumber as err:
                results.append(self._refuse(recipient, err, "invalid_number"))
            else:
                results.append(None)
        delivered = iter(self._deliver(message, originator, numbers) if numbers else [])
        return [result or next(delivered) for result in results]

    def _check_originator(self, originator: str) -> str:
        """Return the sender to pass on; subclasses may relax the check."""
        return validate_originator(originator)

    def _deliver(
        self, message: Message, originator: str, numbers: list[str]
    ) -> list[RecipientResult]:
        """Hand the message to the provider; return one result per number."""
        raise NotImplementedError("provider backends must implement _deliver()")

    def _refuse(
        self, recipient: str, cause: Exception, code: str, reason: str = ""
    ) -> RecipientResult:
        masked = mask_phone_number(recipient)
        reason = reason or "it is not a valid phone number"
        error = RecipientRejected(
            f"The SMS to {masked} was not sent: {reason}.",
            provider=self.provider,
            code=code,
            recipient=masked,
        )
        error.__cause__ = cause
        logger.warning("%s", error)
        return RecipientResult(recipient, None, "rejected", error)

    def _refuse_all(
        self, message: Message, cause: Exception, code: str, reason: str
    ) -> list[RecipientResult]:
        return [
            self._refuse(recipient, cause, code, reason.rstrip("."))
            for recipient in message.recipients
        ]

    def _failed(self, recipient: str, error: SmsSendError) -> RecipientResult:
        """Return the result for a recipient the provider did not take, logged."""
        logger.warning("%s", error)
        return RecipientResult(recipient, None, status_for(error), error)

    def _accepted(
        self, recipient: str, message_id: str | None, status: str | None
    ) -> RecipientResult:
        """Return the result for a recipient the provider took, logged."""
        logger.info(
            "%s accepted SMS %s for %s",
            self.provider,
            message_id,
            mask_phone_number(recipient),
        )
        return RecipientResult(recipient, message_id, status or "sent", None)


def _read_timeout(value: float | None) -> float:
    if value is None:
        value = get_setting("SMS_TIMEOUT")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SmsConfigurationError(
            f"SMS_TIMEOUT is {value!r}: set it (or the timeout= keyword) to a "
            "positive number of seconds to wait for the provider."
        )
    return float(value)
