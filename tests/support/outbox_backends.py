"""Test backends for the outbox: scripted errors, files that record deliveries."""

import os
import random
import signal
import threading
import time
from pathlib import Path

from sms.backends.base import BaseSmsBackend
from sms.backends.twilio import SmsBackend as TwilioBackend
from sms.message import RecipientResult
from sms.signals import post_send


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

    For multi-process tests, set in the environment:

    - ``OUTBOX_DELAY``: seconds per message; ``OUTBOX_FAIL_RATE``: the share
      of calls that raise ``ProviderUnavailable`` (503).
    - ``OUTBOX_CALL_FILE``: a file that gets every call's reference, whatever
      its outcome (the provider calls a benchmark counts).
    - ``OUTBOX_STALL_ON``: the body of a message whose call stalls, after
      creating the file ``OUTBOX_RECORD_FILE + ".stalled"``: with
      ``OUTBOX_STALL=stop`` the process SIGSTOPs itself (until SIGCONT), with
      ``OUTBOX_STALL=hang`` it waits for ``OUTBOX_RECORD_FILE + ".release"``
      (at most a minute). That call and every later one then answer 503.
    - ``OUTBOX_POISON``: the body of a message whose call SIGKILLs the process.
    - ``OUTBOX_ACCOUNT_ERRORS``: the first this many calls of the process
      raise ``ProviderAccountError`` (a suspended account, then fixed).
    - ``OUTBOX_PLAIN_RESULTS=1``: record results as objects with only the four
      documented attributes (``recipient``, ``message_id``, ``status``,
      ``error``), as a custom backend may.
    - ``OUTBOX_RAISING_RECEIVER=1``: connect a ``post_send`` receiver that
      raises ``RuntimeError("receiver bug")``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = os.environ["OUTBOX_RECORD_FILE"]
        self.calls_path = os.environ.get("OUTBOX_CALL_FILE")
        self.delay = float(os.environ.get("OUTBOX_DELAY", "0"))
        self.fail_rate = float(os.environ.get("OUTBOX_FAIL_RATE", "0"))
        self.stall_on = os.environ.get("OUTBOX_STALL_ON")
        self.poison = os.environ.get("OUTBOX_POISON")
        self.plain_results = os.environ.get("OUTBOX_PLAIN_RESULTS") == "1"
        self.stalled = False
        if os.environ.get("OUTBOX_RAISING_RECEIVER") == "1":
            post_send.connect(
                _raising_receiver, weak=False, dispatch_uid="tests-raising-receiver"
            )

    def send_messages(self, messages):
        from sms.exceptions import ProviderAccountError, ProviderUnavailable

        for message in messages:
            if self.calls_path:
                _append(self.calls_path, message.reference)
            # Counted under a lock: calls in flight run on several threads,
            # and two of them must not both see the other's call first.
            with _process_lock:
                _process_calls.append(message.reference)
                call_number = len(_process_calls)
            if call_number <= int(os.environ.get("OUTBOX_ACCOUNT_ERRORS", 0)):
                raise ProviderAccountError("401 Account suspended", code=20003)
            if message.body == self.poison:
                os.kill(os.getpid(), signal.SIGKILL)
            if self.delay:
                time.sleep(self.delay)
            if message.body == self.stall_on:
                self._stall()
            if self.stalled or random.random() < self.fail_rate:
                raise ProviderUnavailable("503 Service Unavailable", code=503)
            _append(self.path, message.reference)
            result_class = PlainResult if self.plain_results else RecipientResult
            message.results = [
                result_class(message.recipients[0], message_id=message.reference)
            ]
        return len(messages)

    def _stall(self):
        self.stalled = True
        Path(self.path + ".stalled").touch()
        if os.environ.get("OUTBOX_STALL") == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
            return
        release = Path(self.path + ".release")
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


class TimedRecordingBackend(RecordingBackend):
    """Record ``reference time`` per delivery; refuse first tries if asked.

    A recipient listed in ``OUTBOX_FAIL_FIRST`` (comma-separated) gets a 503
    on its first attempt, remembered across processes in a file beside
    ``OUTBOX_RECORD_FILE``.
    """

    def send_messages(self, messages):
        from sms.exceptions import ProviderUnavailable

        fail_first = os.environ.get("OUTBOX_FAIL_FIRST", "").split(",")
        failed_file = self.path + ".failed"
        for message in messages:
            if message.recipients[0] in fail_first:
                failed = (
                    open(failed_file).read().split()
                    if os.path.exists(failed_file)
                    else []
                )
                if message.reference not in failed:
                    with open(failed_file, "a") as file:
                        file.write(f"{message.reference}\n")
                    raise ProviderUnavailable("503 Service Unavailable", code=503)
        count = super().send_messages(messages)
        with open(self.path + ".times", "a") as file:
            for message in messages:
                file.write(f"{message.reference} {time.time()}\n")
        return count


# Calls made by this process, over all backend instances (a --loop worker
# builds new ones for every run).
_process_calls = []
_process_lock = threading.Lock()


class PlainResult:
    """A custom backend's result: the four documented attributes, no ``ok``."""

    def __init__(self, recipient, message_id=None, status="sent", error=None):
        self.recipient = recipient
        self.message_id = message_id
        self.status = status
        self.error = error


def _raising_receiver(sender, **kwargs):
    raise RuntimeError("receiver bug")


def _append(path, line):
    # O_APPEND writes of one short line are atomic across processes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


class FakeTwilioBackend(TwilioBackend):
    """The real Twilio backend, pointed at a ``sms.testing.FakeTwilio``.

    The drain builds its connections from ``SMS_OUTBOX_BACKEND`` alone, so the
    fake's URL comes from ``fake_url`` here or ``OUTBOX_FAKE_URL``.
    """

    fake_url = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "api_url", FakeTwilioBackend.fake_url or os.environ.get("OUTBOX_FAKE_URL")
        )
        super().__init__(*args, **kwargs)
