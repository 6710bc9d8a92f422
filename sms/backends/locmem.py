"""SMS backend that keeps messages in ``sms.outbox``, for tests."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import sms
from sms.backends.base import BaseSmsBackend
from sms.message import Message, RecipientResult


class SmsBackend(BaseSmsBackend):
    """Append a copy of every message to the list ``sms.outbox``.

    Tests may rebind ``sms.outbox``; messages go to whatever list it is at send
    time. Each recipient gets a made-up message id, as a provider would give.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(sms, "outbox"):
            sms.outbox = []

    def send_messages(self, messages: list[Message]) -> int:
        """Store copies of ``messages`` and return how many were stored."""
        if not hasattr(sms, "outbox"):
            sms.outbox = []
        for message in messages:
            message.results = [
                RecipientResult(recipient, message_id=uuid.uuid4().hex)
                for recipient in message.recipients
            ]
            stored = copy.copy(message)
            stored.recipients = list(message.recipients)
            stored.results = list(message.results)
            sms.outbox.append(stored)
        return len(messages)
