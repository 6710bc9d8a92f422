"""SMS backend that sends through MessageBird's SMS API with the official SDK."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast
from urllib.parse import urljoin

from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import (
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsImproperlyInstalled,
)
from sms.message import Message, RecipientResult

try:
    import requests
    from messagebird.client import ENDPOINT, USER_AGENT, Client, ErrorException
    from messagebird.http_client import HttpClient, ResponseFormat
    from messagebird.serde import json_serialize
except ImportError:  # the optional extra django-sms[messagebird]
    Client = ResponseFormat = ErrorException = None
    HttpClient = object

PROVIDER = "messagebird"

#: MessageBird accepts at most this many recipients in one API call.
CHUNK_SIZE = 50

# https://developers.messagebird.com/api/#api-errors; a 422 without a code
# listed here is about the recipients.
ERROR_CLASSES = {
    **dict.fromkeys([9, 10, 21], RecipientRejected),
    **dict.fromkeys([2, 20, 25], ProviderAccountError),
    99: ProviderUnavailable,
}

# The statuses MessageBird's SDK returns as a body instead of raising.
_SDK_STATUSES = frozenset({200, 201, 204, 401, 404, 405, 422})


class PooledHttpClient(HttpClient):
    """MessageBird's ``HttpClient`` with a timeout and a reusable session.

    The SDK's client posts through a fresh connection per call and waits
    forever. This one sends every call through ``session`` (a
    ``requests.Session``, or a fresh connection per call while it is None),
    bounded by ``timeout``, to ``api_url`` (MessageBird's REST API by default).
    Otherwise it behaves as the SDK's: 401/404/405/422 bodies go back to the
    client, which raises ``ErrorException``; other errors raise ``HTTPError``.
    """

    def __init__(
        self,
        access_key: str,
        api_url: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        # urljoin() drops the last path segment of a base without the slash.
        super().__init__(
            (api_url or ENDPOINT).rstrip("/") + "/", access_key, USER_AGENT
        )
        self.timeout = timeout
        self.session = session

    def request(
        self,
        path: str,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        format: ResponseFormat | None = None,
    ) -> str | bytes:
        """Send one API call; return the body as text, or bytes if asked."""
        if method not in ("DELETE", "GET", "PATCH", "POST", "PUT"):
            raise ValueError(f"{method} is not a supported HTTP method")
        params = params or {}
        headers = {
            "Accept": "application/json",
            "Authorization": "AccessKey " + self.access_key,
            "User-Agent": self.user_agent,
            "Content-Type": "application/json; charset=UTF-8",
        }
        if method == "GET":
            payload: dict[str, Any] = {"params": params}
        else:
            payload = {"data": json_serialize(params)}
        response = (self.session or requests).request(
            method,
            urljoin(self.endpoint, path),
            headers=headers,
            timeout=self.timeout,
            **payload,
        )
        if response.status_code not in _SDK_STATUSES:
            response.raise_for_status()
        if format is ResponseFormat.binary:
            return response.content
        return response.text


class SmsBackend(ProviderBackend):
    """Send each message in API calls of at most 50 recipients.

    The access key comes from the ``access_key`` keyword, else
    ``MESSAGEBIRD_ACCESS_KEY``. ``api_url`` points the backend's own pooled
    client elsewhere; ``http_client`` is an SDK HTTP client used as given.
    ``timeout`` (``SMS_TIMEOUT``) bounds every call. With ``status_callback``
    (``SMS_STATUS_CALLBACK_URL``) each call carries ``reportUrl`` and a
    ``reference``: the message's own, or a fresh one.
    """

    provider = PROVIDER
    required_settings = ("MESSAGEBIRD_ACCESS_KEY",)
    batch_size = CHUNK_SIZE
    sdk_errors = (ErrorException, requests.HTTPError) if Client else ()
    error_classes = ERROR_CLASSES

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        access_key: str | None = None,
        http_client: Any = None,
        **kwargs: Any,
    ) -> None:
        if Client is None:
            raise SmsImproperlyInstalled("messagebird", "messagebird")
        super().__init__(fail_silently=fail_silently, **kwargs)
        access_key = self._credential(
            access_key, "MESSAGEBIRD_ACCESS_KEY", "access_key"
        )
        if http_client is None:
            http_client = self._pooled = PooledHttpClient(
                access_key, self.api_url, self.timeout
            )
        self.client = Client(access_key, http_client=http_client)

    def _deliver(
        self, message: Message, originator: str, numbers: list[str]
    ) -> list[RecipientResult]:
        # One reference for all the message's calls, so reports find it.
        self._reference = message.reference or (
            uuid.uuid4().hex if self.status_callback else None
        )
        return super()._deliver(message, originator, numbers)

    def _send_request(
        self, message: Message, originator: str, numbers: list[str]
    ) -> Any:
        params: dict[str, str] = {}
        if self.status_callback:
            params["reportUrl"] = self.status_callback
        if self._reference:
            params["reference"] = self._reference
        if params:  # message_create() updates the dict it is given
            return self.client.message_create(originator, numbers, message.body, params)
        # Exactly these arguments when no option is set (README
        # "Compatibility with django-sms 0.7.0").
        return self.client.message_create(originator, numbers, message.body)

    def _parse_response(self, answer: Any, numbers: list[str]) -> list[Accepted]:
        recipients = getattr(answer, "recipients", None)
        items = recipients.get("items", []) if isinstance(recipients, dict) else []
        statuses = {str(getattr(item, "recipient", "")): item.status for item in items}
        message_id = getattr(answer, "id", None)
        return [Accepted(message_id, statuses.get(n.lstrip("+"))) for n in numbers]

    def _describe(self, err: Exception) -> Fault:
        if isinstance(err, ErrorException):
            first = err.errors[0] if err.errors else None
            return Fault(
                None, getattr(first, "code", None), first and first.description
            )
        # An HTTPError the SDK let through (429, 5xx).
        response = cast("requests.HTTPError", err).response
        try:
            first = (json.loads(response.text).get("errors") or [{}])[0]
            code, detail = first.get("code"), first.get("description")
        except (ValueError, AttributeError, TypeError):
            code, detail = None, None
        return Fault(response.status_code, code, detail or response.reason)
