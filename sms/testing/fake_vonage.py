"""A fake of Vonage's SMS API, with the signed delivery receipts Vonage sends."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from sms.testing.server import FakeProvider, RecordedRequest, Reply, StatusReport


class FakeVonage(FakeProvider):
    """Vonage's SMS API: ``POST /sms/json``, one recipient per call.

    Vonage answers 200 even when it refuses a message: the refusal is the
    ``status`` of each part (``error()`` builds one). Requests authenticate
    with Basic auth (key and secret) or a signature (``api_key``, ``sig``).
    """

    def __init__(
        self,
        api_key: str = "fakekey1",
        api_secret: str = "fake-vonage-secret-3a1",
        signature_secret: str = "fake-vonage-signature-secret-7d0e",
        signature_method: str = "sha256",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.api_secret = api_secret
        self.signature_secret = signature_secret
        self.signature_method = signature_method
        # self.messages: dicts with id, to, from, text, type, client-ref, callback.

    @staticmethod
    def error(status: str, text: str) -> Reply:
        """Return Vonage's answer refusing a message with ``status``."""
        messages = [{"status": status, "error-text": text}]
        return Reply(200, {"message-count": "1", "messages": messages})

    def throttle_reply(self) -> Reply:
        """Return Vonage's answer beyond the account's rate: status 1, no header."""
        return self.error("1", "Throughput Rate Exceeded - please wait and retry")

    def failure_reply(self) -> Reply:
        return Reply(500, {"type": "about:blank", "title": "Internal Error"})

    def _auth(self) -> Any:
        from vonage import Auth  # signing needs the SDK, only here

        return Auth(
            api_key=self.api_key,
            signature_secret=self.signature_secret,
            signature_method=self.signature_method,
        )

    def _authenticated(self, request: RecordedRequest, form: dict[str, str]) -> bool:
        if request.basic_auth is not None:
            return request.basic_auth == (self.api_key, self.api_secret)
        if form.get("api_key") != self.api_key or "sig" not in form:
            return False
        return bool(self._auth().check_signature(dict(form)))

    def respond(self, request: RecordedRequest) -> Reply:
        if request.method != "POST" or request.path != "/sms/json":
            return Reply(404, {"title": "Not Found"})
        form = request.form
        if not self._authenticated(request, form):
            return self.error("4", "Bad Credentials")
        if not form.get("to", "").isdigit():
            return self.error("3", f"Invalid to address {form.get('to')}")
        message = {
            "id": uuid.uuid4().hex[:16].upper(),
            "to": form["to"],
            "from": form.get("from"),
            "text": form.get("text"),
            "type": form.get("type"),
            "client-ref": form.get("client-ref"),
            "callback": form.get("callback"),
        }
        self.messages.append(message)
        part = {
            "to": message["to"],
            "message-id": message["id"],
            "status": "0",
            "remaining-balance": "3.14159265",
            "message-price": "0.03330000",
            "network": "23410",
        }
        if message["client-ref"]:
            part["client-ref"] = message["client-ref"]
        return Reply(200, {"message-count": "1", "messages": [part]})

    def status_reports(
        self, status: str = "delivered", err_code: str = "0"
    ) -> list[StatusReport]:
        """Return the signed GET receipts Vonage would send to each ``callback``."""
        reports = []
        now = datetime.now(timezone.utc)
        for message in self.messages:
            if not message["callback"]:
                continue
            params = {
                "msisdn": message["to"],
                "to": message["from"] or "",
                "network-code": "23410",
                "messageId": message["id"],
                "price": "0.03330000",
                "status": status,
                "scts": now.strftime("%y%m%d%H%M"),
                "err-code": err_code,
                "api-key": self.api_key,
                "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
                "timestamp": str(int(time.time())),
                "nonce": secrets.token_hex(8),
            }
            if message["client-ref"]:
                params["client-ref"] = message["client-ref"]
            params["sig"] = self._auth().sign_params(dict(params))
            url = f"{message['callback']}?{urlencode(params)}"
            reports.append(StatusReport("GET", url, params, {}))
        return reports
