"""SMS backend that sends through Twilio's Messages API with the official SDK."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from sms.backends._http import PooledClient, retarget
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import (
    ProviderAccountError,
    ProviderThrottled,
    RecipientOptedOut,
    RecipientRejected,
)
from sms.message import Message

try:
    import requests
    from twilio.base.exceptions import TwilioException, TwilioServiceException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client
except ImportError:  # the optional extra django-sms[twilio]
    Client = None
    TwilioHttpClient = object
    TwilioException = TwilioServiceException = None  # constructing raises first

# Every Twilio API host: api.twilio.com, api.dublin.ie1.twilio.com, ...
_TWILIO_HOST = r"[A-Za-z0-9.-]+\.twilio\.com"


class PooledHttpClient(PooledClient, TwilioHttpClient):
    """A ``TwilioHttpClient`` with a timeout, a settable session and base URL.

    Twilio's SDK has no base-URL setting: ``api_url`` replaces the
    ``https://<host>.twilio.com`` prefix of every request.
    """

    def __init__(
        self,
        api_url: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.pool(api_url, timeout, session)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send the request to ``api_url`` instead of Twilio when one is set.

        The answer's ``Retry-After`` is kept in ``retry_after``: the SDK's
        errors do not carry the headers.
        """
        url = retarget(url, self.api_url, _TWILIO_HOST)
        self.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        self.retry_after = (getattr(response, "headers", None) or {}).get("Retry-After")
        return response


class SmsBackend(ProviderBackend):
    """Send each recipient its own Twilio message.

    With a messaging service (``messaging_service_sid`` or
    ``TWILIO_MESSAGING_SERVICE_SID``) Twilio picks the sender and the
    message's originator is not sent. ``status_callback``
    (``SMS_STATUS_CALLBACK_URL``) asks Twilio for delivery reports, with the
    message's ``reference`` in its query string. ``edge`` and ``region``
    (Twilio's Global Infrastructure, ``"dublin"`` and ``"ie1"``) pick the
    regional API host.
    """

    provider = "twilio"
    missing_sdk = None if Client else ("twilio", "twilio")
    credentials = {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
    }
    options = {"messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID"}
    messaging_service_sid: str | None  # set from ``options``
    sdk_errors = (TwilioException,) if Client else ()
    # twilio.http_client logs each request's URL and headers (not the
    # Authorization header, not the form) and each answer's headers at INFO.
    sdk_loggers = ("twilio",)
    # https://www.twilio.com/docs/api/errors. The recipient's own problems;
    # the credentials, a suspended account or a From number that is not
    # ours; and code None: the SDK refused before any request (missing
    # credentials).
    error_classes = {
        **dict.fromkeys([21211, 21408, 21612, 21614], RecipientRejected),
        21610: RecipientOptedOut,  # the recipient replied STOP
        **dict.fromkeys(
            [None, 20003, 20005, 20404, 21212, 21606, 21659, 21660],
            ProviderAccountError,
        ),
        20429: ProviderThrottled,  # too many requests: slow down
    }

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        http_client: Any = None,
        edge: str | None = None,
        region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        if http_client is None:
            http_client = self._pooled = PooledHttpClient(self.api_url, self.timeout)
        sid, token = self._credentials["account_sid"], self._credentials["auth_token"]
        # edge ("dublin") and region ("ie1") pick Twilio's regional API host.
        self.client = Client(
            sid, token, http_client=http_client, edge=edge, region=region
        )

    def _check_originator(self, originator: str) -> str:
        if self.messaging_service_sid:
            return originator
        return super()._check_originator(originator)

    def _send_request(
        self, message: Message, originator: str, numbers: list[str]
    ) -> Any:
        # Exactly to/from_/body unless an option is configured (docs/
        # compatibility.md, "Provider backends").
        [number] = numbers
        params: dict[str, Any] = {"to": number}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = originator
        params["body"] = message.body
        if self.status_callback:
            params["status_callback"] = _with_reference(
                self.status_callback, message.reference
            )
        return self.client.messages.create(**params)

    def _parse_response(self, answer: Any, numbers: list[str]) -> list[Accepted]:
        return [Accepted(getattr(answer, "sid", None), getattr(answer, "status", None))]

    def _describe(self, err: Exception) -> Fault:
        status = getattr(err, "status", None)
        if isinstance(err, TwilioServiceException):
            detail = err.detail or err.title
        else:
            detail = getattr(err, "msg", None) or type(err).__name__
        retry_after = getattr(self.client.http_client, "retry_after", None)
        return Fault(status, getattr(err, "code", None), detail, None, retry_after)


def _with_reference(url: str, reference: str | None) -> str:
    """Return ``url`` with ``reference=`` added to its query string.

    Twilio signs the whole URL, query included, so the reference comes back
    verified and the receipts view finds the row before its SID is stored.
    """
    if not reference:
        return url
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({'reference': reference})}"
