"""A fake of Amazon SNS ``Publish`` (query protocol, XML), for the faults AWS makes.

The AWS backend's main tests run against moto's SNS server; this fake answers
what an emulator does not produce: throttling, 5xx, refused credentials and
refused parameters, each in AWS's own XML, and it records every request.
"""

from __future__ import annotations

import uuid
from typing import Any
from xml.sax.saxutils import escape

from sms.testing.server import FakeProvider, RecordedRequest, Reply

_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


class FakeSns(FakeProvider):
    """SNS's query API: ``POST /`` with ``Action=Publish`` to a phone number."""

    def __init__(
        self,
        access_key: str = "AKIAFAKESNS000000000",
        secret_key: str = "fake-sns-secret-key",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.access_key = access_key
        self.secret_key = secret_key
        # self.messages: dicts with id, to, body and attributes ({name: value}).

    @staticmethod
    def error(status: int, code: str, message: str, sender: bool = True) -> Reply:
        """Return AWS's query-protocol error answer."""
        body = (
            f'<ErrorResponse xmlns="{_NAMESPACE}"><Error>'
            f"<Type>{'Sender' if sender else 'Receiver'}</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        return Reply(status, body, content_type="text/xml")

    def throttle_reply(self) -> Reply:
        reply = self.error(400, "Throttling", "Rate exceeded")
        reply.headers.update(self.wait_header())
        return reply

    def failure_reply(self) -> Reply:
        return self.error(500, "InternalError", "Internal failure", sender=False)

    def respond(self, request: RecordedRequest) -> Reply:
        credential = request.headers.get("Authorization", "")
        if f"Credential={self.access_key}/" not in credential:
            return self.error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        form = request.form
        if form.get("Action") != "Publish" or not form.get("PhoneNumber"):
            return self.error(400, "InvalidParameter", "Invalid parameter: Action")
        message = {
            "id": str(uuid.uuid4()),
            "to": form["PhoneNumber"],
            "body": form.get("Message"),
            "attributes": _attributes(form),
        }
        self.messages.append(message)
        body = (
            f'<PublishResponse xmlns="{_NAMESPACE}"><PublishResult>'
            f"<MessageId>{message['id']}</MessageId></PublishResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></PublishResponse>"
        )
        return Reply(200, body, content_type="text/xml")


def _attributes(form: dict[str, str]) -> dict[str, str | None]:
    """Return ``{name: value}`` from the ``MessageAttributes.entry.N`` fields.

    A value is None for an attribute sent without a ``StringValue``.
    """
    attributes: dict[str, str | None] = {}
    for n in range(1, 11):
        name = form.get(f"MessageAttributes.entry.{n}.Name")
        if name is None:
            break
        attributes[name] = form.get(f"MessageAttributes.entry.{n}.Value.StringValue")
    return attributes
