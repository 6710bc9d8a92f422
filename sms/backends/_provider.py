"""The provider layer: what every backend that calls a provider's API shares."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sms.backends._errors import (
    class_for_status,
    provider_error,
    scrub_exception,
    transport_error,
)
from sms.backends._outcomes import Accepted, Fault, status_for
from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    ProviderAccountError,
    RecipientRejected,
    SmsConfigurationError,
    SmsSendError,
)
from sms.message import Message, RecipientResult
from sms.phone import mask_phone_number, normalize_phone_number, validate_originator
from sms.recipients import refused_recipients

try:
    import requests
except ImportError:  # only the provider SDKs bring requests along
    requests = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class ProviderBackend(BaseSmsBackend):
    """Base of the backends that hand messages to a provider's API.

    The base owns the loop: it checks each message (body, originator, every
    number) before any network call, sends the numbers in requests of at most
    ``batch_size``, records one ``RecipientResult`` per recipient, stops at
    once on a ``ProviderAccountError`` (nothing else can go), and finally
    raises the first error unless ``fail_silently`` is set.

    A provider declares ``provider`` (its id in errors and logs),
    ``batch_size``, ``sdk_errors`` (what its SDK raises for an answer it did
    not like) and ``error_classes`` (provider code -> exception class; a code
    not listed is judged by its HTTP status), builds ``self.client`` in
    ``__init__`` and implements three small steps: ``_send_request()`` sends
    one request, ``_parse_response()`` reads its answer and ``_describe()``
    reads an SDK error into a ``Fault``. A backend whose SDK talks through
    ``requests`` sets ``self._pooled`` to the SDK HTTP client whose
    ``session`` attribute ``open()`` and ``close()`` manage.
    """

    provider = ""
    batch_size = 1
    sdk_errors: tuple[type[Exception], ...] = ()
    error_classes: Mapping[Any, type[SmsSendError]] = {}

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
        # Numbers an installed app forbids (the outbox's suppression list).
        refused = refused_recipients(numbers) if numbers else {}
        if refused:
            slots = iter(numbers)
            results = [
                r
                if r is not None or (n := next(slots)) not in refused
                else self._refused(n, refused[n])
                for r in results
            ]
            numbers = [n for n in numbers if n not in refused]
        delivered = iter(self._deliver(message, originator, numbers) if numbers else [])
        return [result or next(delivered) for result in results]

    def _check_originator(self, originator: str) -> str:
        """Return the sender to pass on; subclasses may relax the check."""
        return validate_originator(originator)

    def _deliver(
        self, message: Message, originator: str, numbers: list[str]
    ) -> list[RecipientResult]:
        """Send ``numbers`` in batches; after an account error the rest go untried."""
        results: list[RecipientResult] = []
        for start in range(0, len(numbers), self.batch_size):
            batch = numbers[start : start + self.batch_size]
            results += self._send_batch(message, originator, batch)
            error = results[-1].error
            if isinstance(error, ProviderAccountError):
                untried = numbers[len(results) :]
                results += [RecipientResult(n, None, "failed", error) for n in untried]
                break
        return results

    def _send_batch(
        self, message: Message, originator: str, numbers: list[str]
    ) -> list[RecipientResult]:
        """Send one request for ``numbers``; return one result per number."""
        try:
            answer = self._send_request(message, originator, numbers)
        except self.sdk_errors + self._transport_errors() as err:
            scrub_exception(err)
            results = []
            for number in numbers:
                error = self._map_error(number, err)
                error.__cause__ = err
                results.append(self._failed(number, error))
            return results
        outcomes = self._parse_response(answer, numbers)
        return [
            self._accepted(number, outcome)
            if isinstance(outcome, Accepted)
            else self._failed(number, outcome)
            for number, outcome in zip(numbers, outcomes, strict=True)
        ]

    def _send_request(
        self, message: Message, originator: str, numbers: list[str]
    ) -> Any:
        """Hand one request for ``numbers`` to the SDK; return its answer."""
        raise NotImplementedError("provider backends must implement _send_request()")

    def _parse_response(
        self, answer: Any, numbers: list[str]
    ) -> Sequence[Accepted | SmsSendError]:
        """Return one ``Accepted`` or error per number from the SDK's answer."""
        raise NotImplementedError("provider backends must implement _parse_response()")

    def _describe(self, err: Exception) -> Fault:
        """Return the status, code and text of an error in ``sdk_errors``."""
        raise NotImplementedError("provider backends must implement _describe()")

    def _transport_errors(self) -> tuple[type[Exception], ...]:
        """Return the transport errors ``_transport_error()`` maps."""
        return (requests.RequestException,)

    def _transport_error(self, number: str, err: Exception) -> SmsSendError:
        """Map an error of the HTTP transport (no answer, or no connection)."""
        return transport_error(self.provider, number, err)

    def _map_error(self, number: str, err: Exception) -> SmsSendError:
        """Map an SDK or transport error through ``error_classes``."""
        if not isinstance(err, self.sdk_errors):
            return self._transport_error(number, err)
        fault = self._describe(err)
        return self._error(number, fault)

    def _error(self, number: str, fault: Fault) -> SmsSendError:
        """Return the ``sms.exceptions`` error for ``fault`` about ``number``."""
        cls = (
            self.error_classes.get(fault.code)
            or fault.fallback
            or class_for_status(fault.status)
        )
        return provider_error(
            cls,
            self.provider,
            number,
            fault.detail or "refused",
            status=fault.status,
            code=fault.code,
        )

    def _refused(self, number: str, error: SmsSendError) -> RecipientResult:
        logger.warning("Not sending to %s: %s", mask_phone_number(number), error)
        return RecipientResult(number, None, "rejected", error)

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
        error.__cause__ = scrub_exception(cause)
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

    def _accepted(self, recipient: str, accepted: Accepted) -> RecipientResult:
        """Return the result for a recipient the provider took, logged."""
        message_id = accepted.message_id
        logger.info(
            "%s accepted SMS %s for %s",
            self.provider,
            message_id,
            mask_phone_number(recipient),
        )
        message_id = message_id if isinstance(message_id, str) else None
        status = accepted.status if isinstance(accepted.status, str) else None
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
