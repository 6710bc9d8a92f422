"""SMS backend that writes messages to a stream (stdout by default)."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from sms.backends.base import BaseSmsBackend
from sms.message import Message, RecipientResult
from sms.utils import format_message


class SmsBackend(BaseSmsBackend):
    """Write each message to ``stream``, holding a lock and flushing after each."""

    def __init__(
        self, *args: Any, stream: IO[str] | None = None, **kwargs: Any
    ) -> None:
        # sys.stdout is read now, not at import, so redirect_stdout() works.
        self.stream = sys.stdout if stream is None else stream
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def write_message(self, message: Message) -> None:
        """Write one message's record to the stream."""
        self.stream.write(format_message(message))

    def send_messages(self, messages: list[Message]) -> int:
        """Write ``messages`` and return how many were written."""
        if not messages:
            return 0
        count = 0
        with self._lock:
            stream_created = self.open()
            try:
                for message in messages:
                    self.write_message(message)
                    self.stream.flush()
                    message.results = [
                        RecipientResult(recipient) for recipient in message.recipients
                    ]
                    count += 1
            finally:
                if stream_created:
                    self.close()
        return count
