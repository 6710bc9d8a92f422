"""SMS backend that sends through MessageBird's SMS API with the official SDK."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast
from urllib.parse import urljoin

from sms.backends._http import PooledClient
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import (
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
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

# The statuses MessageBird's SDK returns as a body instead of raising.
_SDK_STATUSES = frozenset({200, 201, 204, 401, 404, 405, 422})


class PooledHttpClient(PooledClient, HttpClient):
    """MessageBird's ``HttpClient`` with a timeout and a reusable session.

    The SDK's client posts through a fresh connection per call and waits
    forever; this one sends to ``api_url`` (MessageBird's REST API by
    default) through the pooled session, and otherwise behaves as the SDK's:
    401/404/405/422 bodies go back to the client, which raises
    ``ErrorException``; other errors raise ``HTTPError``.
    """

    def __init__(
        self,
        access_key: str,
        api_url: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        # urljoin() drops the last path segment of a base without the slash.
        endpoint = (api_url or ENDPOINT).rstrip("/") + "/"
        super().__init__(endpoint, access_key, USER_AGENT)
        self.pool(api_url, timeout, session)

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
        body = (
            {"params": params} if method == "GET" else {"data": json_serialize(params)}
        )
        headers = {
            "Accept": "application/json",
            "Authorization": "AccessKey " + self.access_key,
            "User-Agent": self.user_agent,
            "Content-Type": "application/json; charset=UTF-8",
        }
        url = urljoin(self.endpoint, path)
        response: requests.Response = self.session_request(
            method, url, headers=headers, **body
        )
        if response.status_code not in _SDK_STATUSES:
            response.raise_for_status()
        if format is ResponseFormat.binary:
            return response.content
        return response.text


class SmsBackend(ProviderBackend):
    """Send each message in API calls of at most 50 recipients.

    With ``status_callback`` (``SMS_STATUS_CALLBACK_URL``) each call carries
    ``reportUrl`` and a ``reference``: the message's own, or a fresh one.
    """

    provider = "messagebird"
    missing_sdk = None if Client else ("messagebird", "messagebird")
    credentials = {"access_key": "MESSAGEBIRD_ACCESS_KEY"}
    batch_size = 50  # the most recipients MessageBird takes in one call
    sdk_errors = (ErrorException, requests.HTTPError) if Client else ()
    # https://developers.messagebird.com/api/#api-errors; a 422 without a
    # code listed here is about the recipients.
    error_classes = {
        **dict.fromkeys([9, 10, 21], RecipientRejected),
        **dict.fromkeys([2, 20, 25], ProviderAccountError),
        99: ProviderUnavailable,
    }

    def __init__(
        self, fail_silently: bool = False, *, http_client: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        access_key = self._credentials["access_key"]
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
        # Exactly these arguments when no option is set (docs/
        # compatibility.md, "Provider backends").
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
        retry_after = response.headers.get("Retry-After")
        return Fault(
            response.status_code, code, detail or response.reason, None, retry_after
        )
