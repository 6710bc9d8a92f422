"""A fake of Twilio's Messages API, with the signed status callbacks Twilio sends."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from sms.testing.server import FakeProvider, RecordedRequest, Reply, StatusReport


class FakeTwilio(FakeProvider):
    """Twilio's Messages API: ``POST /2010-04-01/Accounts/<sid>/Messages.json``."""

    def __init__(
        self,
        account_sid: str = "AC" + "0123456789abcdef" * 2,
        auth_token: str = "fake-twilio-auth-token-5e1f",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.account_sid = account_sid
        self.auth_token = auth_token
        # self.messages: dicts with sid, to, from, body, status_callback and
        # messaging_service_sid.

    @staticmethod
    def error(status: int, code: int, message: str) -> Reply:
        """Return Twilio's classic error answer."""
        return Reply(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    @staticmethod
    def problem(status: int, code: int, title: str, detail: str = "") -> Reply:
        """Return an RFC 9457 problem-details answer."""
        body = {
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        }
        return Reply(status, body, content_type="application/problem+json")

    def throttle_reply(self) -> Reply:
        reply = self.error(429, 20429, "Too Many Requests")
        reply.headers.update(self.wait_header())
        return reply

    def failure_reply(self) -> Reply:
        return self.error(503, 20503, "Service unavailable")

    def respond(self, request: RecordedRequest) -> Reply:
        if request.basic_auth != (self.account_sid, self.auth_token):
            return self.error(401, 20003, "Authenticate")
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.method != "POST" or request.path != expected:
            return self.error(404, 20404, "The requested resource was not found")
        form = request.form
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status_callback": form.get("StatusCallback"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
        }
        self.messages.append(message)
        status = "accepted" if message["messaging_service_sid"] else "queued"
        return Reply(
            201,
            {
                **{k: v for k, v in message.items() if k != "status_callback"},
                "account_sid": self.account_sid,
                "status": status,
                "direction": "outbound-api",
                "num_segments": "1",
                "date_created": now,
                "date_updated": now,
                "api_version": "2010-04-01",
                "uri": f"{expected[:-5]}/{sid}.json",
            },
        )

    def status_reports(self, status: str = "delivered") -> list[StatusReport]:
        """Return the signed callbacks Twilio would POST for accepted messages."""
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(self.auth_token)
        reports = []
        for message in self.messages:
            if not message["status_callback"]:
                continue
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "From": message["from"] or "",
                "MessageSid": message["sid"],
                "MessageStatus": status,
                "SmsSid": message["sid"],
                "SmsStatus": status,
                "To": message["to"],
            }
            url = message["status_callback"]
            signature = validator.compute_signature(url, params)
            reports.append(
                StatusReport("POST", url, params, {"X-Twilio-Signature": signature})
            )
        return reports
