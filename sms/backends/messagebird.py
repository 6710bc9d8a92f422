"""SMS backend that sends through MessageBird's SMS API with the official SDK."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urljoin

from sms.backends._errors import class_for_status, provider_error, transport_error
from sms.backends._provider import ProviderBackend
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
    from messagebird.client import ENDPOINT, USER_AGENT, Client, ErrorException
    from messagebird.http_client import HttpClient, ResponseFormat
    from messagebird.serde import json_serialize
except ImportError:  # the optional extra django-sms[messagebird]
    Client = ResponseFormat = None
    HttpClient = object

logger = logging.getLogger(__name__)

PROVIDER = "messagebird"

#: MessageBird accepts at most this many recipients in one API call.
CHUNK_SIZE = 50

# https://developers.messagebird.com/api/#api-errors
REJECTED_CODES = frozenset({9, 10, 21})
ACCOUNT_CODES = frozenset({2, 20, 25})
UNAVAILABLE_CODES = frozenset({99})

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
        params = self._params(message)
        results: list[RecipientResult] = []
        for start in range(0, len(numbers), CHUNK_SIZE):
            chunk = numbers[start : start + CHUNK_SIZE]
            results += self._send_chunk(message, originator, chunk, params)
            if isinstance(results[-1].error, ProviderAccountError):
                # Nothing else can go: the rest fail untried.
                error = results[-1].error
                untried = numbers[len(results) :]
                results += [RecipientResult(n, None, "failed", error) for n in untried]
                break
        return results

    def _params(self, message: Message) -> dict[str, str]:
        params = {}
        if self.status_callback:
            params["reportUrl"] = self.status_callback
        reference = message.reference or (
            uuid.uuid4().hex if self.status_callback else None
        )
        if reference:
            params["reference"] = reference
        return params

    def _send_chunk(
        self,
        message: Message,
        originator: str,
        chunk: list[str],
        params: dict[str, str],
    ) -> list[RecipientResult]:
        try:
            if params:
                # message_create() updates the dict it is given.
                sent = self.client.message_create(
                    originator, chunk, message.body, dict(params)
                )
            else:
                # Exactly these arguments when no option is set (COMPAT.md).
                sent = self.client.message_create(originator, chunk, message.body)
        except (ErrorException, requests.RequestException) as err:
            results = []
            for number in chunk:
                error = _map_error(number, err)
                error.__cause__ = err
                results.append(self._failed(number, error))
            return results
        message_id = getattr(sent, "id", None)
        message_id = message_id if isinstance(message_id, str) else None
        statuses = _recipient_statuses(sent)
        return [
            self._accepted(number, message_id, statuses.get(number.lstrip("+")))
            for number in chunk
        ]


def _recipient_statuses(sent: Any) -> dict[str, str]:
    """Return ``{msisdn digits: status}`` from a created ``messagebird.Message``."""
    recipients = getattr(sent, "recipients", None)
    items = recipients.get("items", []) if isinstance(recipients, dict) else []
    return {
        str(getattr(item, "recipient", "")): item.status
        for item in items
        if isinstance(getattr(item, "status", None), str)
    }


def _map_error(number: str, err: Exception) -> SmsSendError:
    """Return the ``sms.exceptions`` error for an SDK or transport error."""
    if isinstance(err, ErrorException):
        first = err.errors[0] if err.errors else None
        code = getattr(first, "code", None)
        detail = getattr(first, "description", None) or "refused"
        cls = _class_for_code(code) or RecipientRejected
        return provider_error(cls, PROVIDER, number, detail, code=code)
    if isinstance(err, requests.HTTPError) and err.response is not None:
        status = err.response.status_code
        code, detail = _code_from_body(err.response)
        cls = _class_for_code(code) or class_for_status(status)
        detail = detail or err.response.reason or "refused"
        return provider_error(cls, PROVIDER, number, detail, status=status, code=code)
    return transport_error(PROVIDER, number, err)


def _class_for_code(code: object) -> type[SmsSendError] | None:
    if code in ACCOUNT_CODES:
        return ProviderAccountError
    if code in REJECTED_CODES:
        return RecipientRejected
    if code in UNAVAILABLE_CODES:
        return ProviderUnavailable
    return None


def _code_from_body(response: requests.Response) -> tuple[int | None, str | None]:
    """Return the first MessageBird error code and description in ``response``."""
    try:
        errors = json.loads(response.text).get("errors") or [{}]
        return errors[0].get("code"), errors[0].get("description")
    except (ValueError, AttributeError, TypeError):
        return None, None
