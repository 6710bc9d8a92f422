"""SMS backend that sends through Vonage's SMS API with the official SDK (v4)."""

from __future__ import annotations

import re
from typing import Any

from sms.backends._http import PooledSession
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import (
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientOptedOut,
    RecipientRejected,
    SmsConfigurationError,
)
from sms.message import Message

try:
    from vonage import Auth, HttpClientOptions, Vonage
    from vonage_http_client.errors import HttpRequestError
    from vonage_sms import SmsMessage
    from vonage_sms.errors import PartialFailureError, SmsError
except ImportError:  # the optional extra django-sms[vonage]
    Vonage = None

_SDK_ERROR = re.compile(r"error code (\d+): (.*)", re.DOTALL)


class SmsBackend(ProviderBackend):
    """Send each recipient its own SMS through Vonage's SMS API.

    ``VONAGE_SIGNATURE_SECRET`` only verifies delivery receipts. The
    message's ``reference`` goes out as ``client-ref`` and ``status_callback``
    (``SMS_STATUS_CALLBACK_URL``) as the receipt ``callback``. One pooled
    session carries every call from the start.
    """

    provider = "vonage"
    missing_sdk = None if Vonage else ("vonage", "vonage")
    credentials = {"api_key": "VONAGE_API_KEY", "api_secret": "VONAGE_API_SECRET"}
    sdk_errors = (SmsError, HttpRequestError) if Vonage else ()
    # vonage_http_client logs on "vonage": each request at DEBUG with its
    # parameters and (from the second on) its Authorization header, and an
    # error reply's whole text at WARNING.
    sdk_loggers = ("vonage",)
    # https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms:
    # the "status" of each message part. 7 ("Number Barred") is a number on
    # the account's list of barred numbers: one that opted out.
    error_classes = {
        "1": ProviderThrottled,  # "Throttled": faster than the account may send
        "5": ProviderUnavailable,
        **dict.fromkeys(["2", "3", "6", "12", "22", "29", "33"], RecipientRejected),
        "7": RecipientOptedOut,
        **dict.fromkeys(
            ["4", "8", "9", "10", "11", "14", "15", "23", "32"], ProviderAccountError
        ),
    }

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        if self.status_callback and len(self.status_callback) > 100:
            raise SmsConfigurationError(
                "SMS_STATUS_CALLBACK_URL is longer than the 100 characters Vonage "
                "takes: use a shorter URL, or set it in the Vonage dashboard."
            )
        # Key and secret only: the v4 SDK signs the fields it leaves out of a
        # signed SMS request too, so the signature never matches.
        auth = Auth(**self._credentials)
        # pool_maxsize=1: the SDK re-posts a request whose connection dropped
        # up to that many times, which could send the SMS twice.
        self.client = Vonage(auth, HttpClientOptions(pool_maxsize=1))
        self.session = PooledSession(self.api_url, self.timeout)
        self.client.http_client._session = self.session  # no public setter

    def open(self) -> bool:
        """Return False: the session pools its connections from the start."""
        return False

    def close(self) -> None:
        """Close the session's pooled connections; the next call opens new ones."""
        self.session.close()

    def _send_request(
        self, message: Message, originator: str, numbers: list[str]
    ) -> Any:
        [number] = numbers
        options: dict[str, Any] = {}
        if message.encoding != "GSM-7":
            options["type"] = "unicode"
        if message.reference:
            options["client_ref"] = message.reference
        if self.status_callback:
            options.update(callback=self.status_callback, status_report_req=True)
        sms = SmsMessage(
            to=number.lstrip("+"),
            from_=originator.lstrip("+"),
            text=message.body,
            **options,
        )
        return self.client.sms.send(sms)

    def _parse_response(self, answer: Any, numbers: list[str]) -> list[Accepted]:
        # A long body goes out in parts; the first part's id stands for all.
        return [Accepted(answer.messages[0].message_id)]

    def _describe(self, err: Exception) -> Fault:
        if isinstance(err, HttpRequestError):
            response = err.response
            retry_after = response.headers.get("Retry-After")
            return Fault(response.status_code, None, response.reason, None, retry_after)
        if isinstance(err, PartialFailureError):
            failed = [m for m in err.response["messages"] if m.get("status") != "0"]
            return Fault(None, failed[0]["status"], failed[0].get("error-text"))
        match = _SDK_ERROR.search(str(err))
        code, detail = match.groups() if match else (None, str(err))
        return Fault(None, code, detail, RecipientRejected)
