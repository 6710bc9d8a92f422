"""A fake of MessageBird's SMS API, with the signed reports MessageBird sends."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from sms.testing.server import FakeProvider, RecordedRequest, Reply, StatusReport
from sms.testing.signing import messagebird_signature


class FakeMessageBird(FakeProvider):
    """MessageBird's SMS API: ``POST /messages`` with at most 50 recipients."""

    def __init__(
        self,
        access_key: str = "test_fake-messagebird-key-9c2d",
        signing_key: str = "fake-messagebird-signing-key-0123456789",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.access_key = access_key
        self.signing_key = signing_key
        # self.messages: one dict per accepted call, with id, originator, body,
        # recipients (a list), reportUrl and reference.

    @staticmethod
    def error(
        status: int, code: int, description: str, parameter: str | None = None
    ) -> Reply:
        """Return MessageBird's error answer."""
        errors = [{"code": code, "description": description, "parameter": parameter}]
        return Reply(status, {"errors": errors})

    def throttle_reply(self) -> Reply:
        reply = self.error(429, 429, "Too many requests")
        reply.headers.update(self.wait_header())
        return reply

    def failure_reply(self) -> Reply:
        return self.error(503, 99, "Internal error")

    def respond(self, request: RecordedRequest) -> Reply:
        if request.headers.get("Authorization") != f"AccessKey {self.access_key}":
            return self.error(
                401, 2, "Request not allowed (incorrect access_key)", "access_key"
            )
        if request.method != "POST" or request.path != "/messages":
            return self.error(404, 20, "message not found")
        data = request.json
        recipients = [r for r in str(data.get("recipients", "")).split(",") if r]
        if not recipients or len(recipients) > 50:
            return self.error(422, 9, "no (correct) recipients found", "recipients")
        message = {
            "id": uuid.uuid4().hex,
            "originator": data.get("originator"),
            "body": data.get("body"),
            "recipients": recipients,
            "reportUrl": data.get("reportUrl"),
            "reference": data.get("reference"),
        }
        self.messages.append(message)
        return Reply(201, _message_object(message))

    def status_reports(self, status: str = "delivered") -> list[StatusReport]:
        """Return the signed GET reports MessageBird would send, one per recipient."""
        reports = []
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for message in self.messages:
            if not message["reportUrl"]:
                continue
            for recipient in message["recipients"]:
                params = {
                    "id": message["id"],
                    "reference": message["reference"] or "",
                    "recipient": recipient.lstrip("+"),
                    "status": status,
                    "statusDatetime": now,
                }
                url = f"{message['reportUrl']}?{urlencode(params)}"
                reports.append(StatusReport("GET", url, params, self._signature(url)))
        return reports

    def _signature(self, url: str) -> dict[str, str]:
        return {
            "MessageBird-Signature-JWT": messagebird_signature(url, self.signing_key)
        }


def _message_object(message: dict[str, Any]) -> dict[str, Any]:
    """Return the message object MessageBird answers a created message with."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    items = [
        {"recipient": int(r.lstrip("+")), "status": "sent", "statusDatetime": now}
        for r in message["recipients"]
    ]
    return {
        "id": message["id"],
        "href": f"https://rest.messagebird.com/messages/{message['id']}",
        "direction": "mt",
        "type": "sms",
        "originator": message["originator"],
        "body": message["body"],
        "reference": message["reference"],
        "validity": None,
        "gateway": 10,
        "typeDetails": {},
        "datacoding": "plain",
        "mclass": 1,
        "scheduledDatetime": None,
        "createdDatetime": now,
        "recipients": {
            "totalCount": len(items),
            "totalSentCount": len(items),
            "totalDeliveredCount": 0,
            "totalDeliveryFailedCount": 0,
            "items": items,
        },
    }
