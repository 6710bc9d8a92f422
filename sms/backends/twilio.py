"""SMS backend that sends through Twilio's Messages API with the official SDK."""

from __future__ import annotations

import logging
import re
from typing import Any

from sms.backends._errors import class_for_status, provider_error, transport_error
from sms.backends._provider import ProviderBackend
from sms.conf import get_setting
from sms.exceptions import (
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsImproperlyInstalled,
    SmsSendError,
)
from sms.message import Message, RecipientResult

try:
    import requests
    from twilio.base.exceptions import TwilioException, TwilioServiceException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client
except ImportError:  # the optional extra django-sms[twilio]
    Client = None
    TwilioHttpClient = object

logger = logging.getLogger(__name__)

PROVIDER = "twilio"

# https://www.twilio.com/docs/api/errors: about this recipient only.
REJECTED_CODES = frozenset({21211, 21408, 21610, 21612, 21614})
# Credentials, a suspended account, or a From number that is not ours.
ACCOUNT_CODES = frozenset({20003, 20005, 20404, 21212, 21606, 21659, 21660})
UNAVAILABLE_CODES = frozenset({20429})

# Every Twilio API host: api.twilio.com, api.dublin.ie1.twilio.com, ...
_TWILIO_HOST = re.compile(r"^https://[A-Za-z0-9.-]+\.twilio\.com")


class PooledHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` with a timeout, a settable session and base URL.

    ``api_url`` replaces the ``https://<host>.twilio.com`` prefix of every
    request (Twilio's SDK has no base-URL setting), so tests can point the
    SDK at a fake server. ``session`` is the ``requests.Session`` reused for
    every call; while it is None each call opens its own connection.
    """

    def __init__(
        self,
        api_url: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.api_url = api_url.rstrip("/") if api_url else None
        self.session = session

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send the request to ``api_url`` instead of Twilio when one is set."""
        if self.api_url:
            url = _TWILIO_HOST.sub(self.api_url, url, count=1)
        return super().request(method, url, *args, **kwargs)


class SmsBackend(ProviderBackend):
    """Send each recipient its own Twilio message.

    Credentials come from the ``account_sid`` and ``auth_token`` keywords, else
    ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``. With a messaging service
    (``messaging_service_sid`` or ``TWILIO_MESSAGING_SERVICE_SID``) Twilio picks
    the sender and the message's originator is not sent. ``api_url`` points
    the backend's own pooled client elsewhere; ``http_client`` is an SDK HTTP
    client used as given. ``timeout`` (``SMS_TIMEOUT``) bounds every call and
    ``status_callback`` (``SMS_STATUS_CALLBACK_URL``) asks Twilio for
    delivery reports.
    """

    provider = PROVIDER
    required_settings = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        messaging_service_sid: str | None = None,
        http_client: Any = None,
        **kwargs: Any,
    ) -> None:
        if Client is None:
            raise SmsImproperlyInstalled("twilio", "twilio")
        super().__init__(fail_silently=fail_silently, **kwargs)
        account_sid = self._credential(account_sid, "TWILIO_ACCOUNT_SID", "account_sid")
        auth_token = self._credential(auth_token, "TWILIO_AUTH_TOKEN", "auth_token")
        if messaging_service_sid is None:
            messaging_service_sid = get_setting("TWILIO_MESSAGING_SERVICE_SID")
        self.messaging_service_sid: str | None = messaging_service_sid or None
        if http_client is None:
            http_client = self._pooled = PooledHttpClient(self.api_url, self.timeout)
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def _check_originator(self, originator: str) -> str:
        if self.messaging_service_sid:
            return originator
        return super()._check_originator(originator)

    def _deliver(
        self, message: Message, originator: str, numbers: list[str]
    ) -> list[RecipientResult]:
        results: list[RecipientResult] = []
        for number in numbers:
            result = self._send_one(message, originator, number)
            results.append(result)
            if isinstance(result.error, ProviderAccountError):
                # Nothing else can go: the rest fail untried.
                untried = numbers[len(results) :]
                results += [
                    RecipientResult(n, None, "failed", result.error) for n in untried
                ]
                break
        return results

    def _send_one(
        self, message: Message, originator: str, number: str
    ) -> RecipientResult:
        try:
            sent = self.client.messages.create(
                **self._params(message, originator, number)
            )
        except TwilioException as err:
            error = _map_twilio_error(number, err)
            error.__cause__ = err
        except requests.RequestException as err:
            error = transport_error(PROVIDER, number, err)
            error.__cause__ = err
        else:
            sid, status = getattr(sent, "sid", None), getattr(sent, "status", None)
            return self._accepted(
                number,
                sid if isinstance(sid, str) else None,
                status if isinstance(status, str) else None,
            )
        return self._failed(number, error)

    def _params(self, message: Message, originator: str, number: str) -> dict[str, Any]:
        # Exactly to/from_/body unless an option is configured (COMPAT.md).
        params: dict[str, Any] = {"to": number}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = originator
        params["body"] = message.body
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params


def _map_twilio_error(number: str, err: TwilioException) -> SmsSendError:
    """Return the ``sms.exceptions`` error for a Twilio SDK exception."""
    status = getattr(err, "status", None)
    code = getattr(err, "code", None)
    if isinstance(err, TwilioServiceException):
        detail = err.detail or err.title
    else:
        detail = getattr(err, "msg", None) or type(err).__name__
    if code in ACCOUNT_CODES:
        cls: type[SmsSendError] = ProviderAccountError
    elif code in REJECTED_CODES:
        cls = RecipientRejected
    elif code in UNAVAILABLE_CODES:
        cls = ProviderUnavailable
    elif status is None:
        # Raised by the SDK itself (missing credentials, bad arguments).
        cls = ProviderAccountError
    else:
        cls = class_for_status(status)
    return provider_error(cls, PROVIDER, number, detail, status=status, code=code)
