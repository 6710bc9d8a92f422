"""The provider layer: what every backend that calls a provider's API shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sms.backends import _results
from sms.backends._config import read_credentials, read_options, read_timeout
from sms.backends._errors import fault_error, scrub_exception, transport_error
from sms.backends._http import PooledClient
from sms.backends._outcomes import Accepted, Fault
from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    ProviderAccountError,
    SmsImproperlyInstalled,
    SmsSendError,
)
from sms.masking import hide, install_filter, unhide
from sms.message import Message, RecipientResult
from sms.phone import validate_originator

try:
    import requests
except ImportError:  # only the provider SDKs bring requests along
    requests = None  # type: ignore[assignment]


class ProviderBackend(BaseSmsBackend):
    """Base of the backends that hand messages to a provider's API.

    The base owns the loop: it checks each message (body, originator, every
    number) before any network call, sends the numbers in requests of at most
    ``batch_size``, records one ``RecipientResult`` per recipient, stops at
    once on a ``ProviderAccountError`` (nothing else can go), and finally
    raises the first error unless ``fail_silently`` is set.

    A provider declares ``provider`` (its id in errors and logs),
    ``missing_sdk`` (``(package, extra)`` while its SDK is not installed:
    construction then raises ``SmsImproperlyInstalled`` naming both),
    ``batch_size``, ``credentials`` and ``options`` (keyword -> setting: the
    keyword beats the setting; a credential missing from both fails
    construction, and the system check reports its setting), ``sdk_errors``
    (what its SDK raises for an answer it did not like) and
    ``error_classes`` (provider code -> exception class; a code not listed
    is judged by its HTTP status). It builds ``self.client`` in ``__init__``
    from ``self._credentials`` and implements three small steps:
    ``_send_request()`` sends one request, ``_parse_response()`` reads its
    answer and ``_describe()`` reads an SDK error into a ``Fault``. A backend
    whose SDK talks through ``requests`` sets ``self._pooled`` to its
    ``PooledClient``, whose session ``open()`` and ``close()`` manage.

    While a request is under way the credentials (``self._secrets``) and the
    body are hidden from ``sms.masking.mask_text()``: the SDK's log records,
    the errors and the tracebacks show neither, nor a full phone number.

    Every provider backend takes ``timeout`` (``SMS_TIMEOUT``), which bounds
    every call, ``api_url``, where the calls go instead of the provider (a
    fake server, a proxy), and ``status_callback``
    (``SMS_STATUS_CALLBACK_URL``), where delivery reports go. One whose SDK
    talks through ``requests`` also takes ``http_client``, an SDK HTTP
    client used as given: its pooling is then the caller's.
    """

    provider = ""
    missing_sdk: tuple[str, str] | None = None
    batch_size = 1
    credentials: Mapping[str, str] = {}
    options: Mapping[str, str] = {}
    sdk_errors: tuple[type[Exception], ...] = ()
    sdk_loggers: tuple[str, ...] = ()
    error_classes: Mapping[Any, type[SmsSendError]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "required_settings" not in cls.__dict__:  # the check reports these
            cls.required_settings = tuple(cls.credentials.values())

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        timeout: float | None = None,
        api_url: str | None = None,
        status_callback: str | None = None,
        **kwargs: Any,
    ) -> None:
        if self.missing_sdk:
            raise SmsImproperlyInstalled(*self.missing_sdk)
        self.timeout = read_timeout(timeout)
        self.api_url = api_url
        if status_callback is None:
            status_callback = get_setting("SMS_STATUS_CALLBACK_URL")
        self.status_callback: str | None = status_callback or None
        self._credentials = read_credentials(self.credentials, kwargs)
        for keyword, value in read_options(self.options, kwargs).items():
            setattr(self, keyword, value)
        super().__init__(fail_silently=fail_silently, **kwargs)
        self._pooled: PooledClient | None = None
        self._secrets: tuple[str, ...] = tuple(self._credentials.values())
        install_filter(*self.sdk_loggers)

    def open(self) -> bool:
        """Give the HTTP client a pooled session; return True if this call did.

        Return False when the session is already open or when the caller
        supplied their own HTTP client (its pooling is theirs).
        """
        return self._pooled is not None and self._pooled.open_session()

    def close(self) -> None:
        """Close the session that ``open()`` created, if any."""
        if self._pooled is not None:
            self._pooled.close_session()

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
            return self._invalid_all(message, err, "invalid_message", str(err))
        try:
            originator = self._check_originator(self._sender(message.originator))
        except InvalidPhoneNumber as err:
            return self._invalid_all(
                message, err, "invalid_originator", "its originator is not valid"
            )
        results, numbers = _results.screen(self.provider, message.recipients)
        delivered = iter(self._deliver(message, originator, numbers) if numbers else [])
        return [result or next(delivered) for result in results]

    def _sender(self, originator: str) -> str:
        """Return ``originator``, or the alias's sender for the site's default.

        A message built without an originator carries ``DEFAULT_FROM_SMS``; a
        backend built from an ``SMS_PROVIDERS`` alias with ``default_from``
        sends such a message from that account's own sender instead.
        """
        if self.default_from and originator in ("", get_setting("DEFAULT_FROM_SMS")):
            return self.default_from
        return originator

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
        hidden = hide((message.body, *self._secrets))
        try:
            try:
                answer = self._send_request(message, originator, numbers)
            except self.sdk_errors + self._transport_errors() as err:
                scrub_exception(err)
                results = []
                for number in numbers:
                    error = self._map_error(number, err)
                    error.__cause__ = err
                    results.append(_results.failed(number, error))
                return results
            outcomes = self._parse_response(answer, numbers)
            return [
                _results.accepted(self.provider, number, outcome)
                if isinstance(outcome, Accepted)
                else _results.failed(number, outcome)
                for number, outcome in zip(numbers, outcomes, strict=True)
            ]
        finally:
            unhide(hidden)

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
        return fault_error(
            self.provider, self.error_classes, number, self._describe(err)
        )

    def _invalid_all(
        self, message: Message, cause: Exception, code: str, reason: str
    ) -> list[RecipientResult]:
        return [
            _results.invalid(self.provider, recipient, cause, code, reason.rstrip("."))
            for recipient in message.recipients
        ]
