"""Test backends for the outbox: scripted errors, and a file that records deliveries."""

import os
import random
import time

from sms.backends.base import BaseSmsBackend
from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.message import RecipientResult


class ScriptedBackend(BaseSmsBackend):
    """Deliver like locmem, but raise the error scripted for a recipient.

    ``errors`` maps a recipient to an exception, or to a list of exceptions
    raised one per call (then success). ``sent`` lists the delivered messages.
    """

    errors = {}
    sent = []

    @classmethod
    def reset(cls, errors=None):
        cls.errors = dict(errors or {})
        cls.sent = []

    def send_messages(self, messages):
        for message in messages:
            recipient = message.recipients[0]
            error = self.errors.get(recipient)
            if isinstance(error, list):
                error = error.pop(0) if error else None
            if error is not None:
                raise error
            message.results = [
                RecipientResult(recipient, message_id=f"SM{len(self.sent):04d}")
            ]
            self.sent.append(message)
        return len(messages)


class RecordingBackend(BaseSmsBackend):
    """Append each delivered message's reference to ``OUTBOX_RECORD_FILE``.

    For multi-process tests: ``OUTBOX_DELAY`` seconds per message, and
    ``OUTBOX_FAIL_RATE`` of calls raise ``ProviderUnavailable``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = os.environ["OUTBOX_RECORD_FILE"]
        self.delay = float(os.environ.get("OUTBOX_DELAY", "0"))
        self.fail_rate = float(os.environ.get("OUTBOX_FAIL_RATE", "0"))

    def send_messages(self, messages):
        from sms.exceptions import ProviderUnavailable

        for message in messages:
            if self.delay:
                time.sleep(self.delay)
            if random.random() < self.fail_rate:
                raise ProviderUnavailable("503 Service Unavailable", code=503)
            # O_APPEND writes of one short line are atomic across processes.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, f"{message.reference}\n".encode())
            finally:
                os.close(fd)
            message.results = [
                RecipientResult(message.recipients[0], message_id=message.reference)
            ]
        return len(messages)


class FakeTwilioBackend(TwilioBackend):
    """The real Twilio backend, pointed at a ``tests.fake_providers.FakeTwilio``.

    The drain builds its connections from ``SMS_OUTBOX_BACKEND`` alone, so the
    fake's URL comes from ``fake_url`` here or ``OUTBOX_FAKE_URL``.
    """

    fake_url = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "api_url", FakeTwilioBackend.fake_url or os.environ.get("OUTBOX_FAKE_URL")
        )
        super().__init__(*args, **kwargs)
