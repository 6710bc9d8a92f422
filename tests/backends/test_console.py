import contextlib
import io
import threading

from django.test import SimpleTestCase

import sms
from sms.backends import console
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
)
from sms.utils import message_from_bytes

SEPARATOR = "-" * 79


class FlushRecordingStream(io.StringIO):
    """A stream that keeps what it held at every flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        super().flush()
        self.flushed.append(self.getvalue())


class ConsoleBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "sms.backends.console.SmsBackend"

    def setUp(self):
        self.stream = io.StringIO()
        super().setUp()

    def get_connection(self, **kwargs):
        kwargs.setdefault("stream", self.stream)
        return sms.get_connection(**kwargs)

    def get_outbox_content(self):
        records = self.stream.getvalue().split("\n" + SEPARATOR + "\n")
        messages = [message_from_bytes(r.encode()) for r in records if r]
        for message in messages:
            # message_from_bytes keeps non-ASCII bytes as surrogates (0.7.0).
            message.body = message.body.encode("ascii", "surrogateescape").decode()
        return messages

    def flush_outbox(self):
        self.stream = io.StringIO()

    def test_stream_keyword(self):
        stream = io.StringIO()
        connection = sms.get_connection(stream=stream)
        self.assertIs(connection.stream, stream)
        connection.send_messages([sms.Message("Content", ORIGINATOR, [RECIPIENT])])
        self.assertIn("from: ", stream.getvalue())
        self.assertEqual(self.stream.getvalue(), "")

    def test_defaults_to_stdout(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            connection = sms.get_connection()
        connection.send_messages([sms.Message("to stdout", ORIGINATOR, [RECIPIENT])])
        self.assertIn("to stdout", out.getvalue())

    def test_exact_output_format(self):
        message = sms.Message("Line one\nline two", ORIGINATOR, [RECIPIENT, "0600"])
        self.get_connection().send_messages([message])
        self.assertEqual(
            self.stream.getvalue(),
            f"from: {ORIGINATOR}\nto: {RECIPIENT}\nLine one\nline two\n{SEPARATOR}\n"
            f"from: {ORIGINATOR}\nto: 0600\nLine one\nline two\n{SEPARATOR}\n",
        )

    def test_flush_after_each_message(self):
        stream = FlushRecordingStream()
        connection = self.get_connection(stream=stream)
        connection.send_messages(
            [
                sms.Message("first", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
                sms.Message("second", ORIGINATOR, [RECIPIENT]),
            ]
        )
        self.assertEqual(len(stream.flushed), 2)
        self.assertEqual(stream.flushed[0].count(SEPARATOR), 2)
        self.assertTrue(stream.flushed[0].endswith("first\n" + SEPARATOR + "\n"))
        self.assertEqual(stream.flushed[1], stream.getvalue())

    def test_lock_held_while_writing(self):
        connection = self.get_connection()
        held = []

        class LockCheckingStream(io.StringIO):
            def write(self, text):
                held.append(connection._lock._is_owned())
                return super().write(text)

        connection.stream = LockCheckingStream()
        connection.send_messages([sms.Message("locked", ORIGINATOR, [RECIPIENT])])
        self.assertEqual(held, [True])

    def test_threads_do_not_interleave(self):
        chunks = []

        class ChunkStream:
            def write(self, text):
                # Hand the GIL over between the pieces of one record.
                for line in text.splitlines(keepends=True):
                    chunks.append(line)
                    threading.Event().wait(0)

            def flush(self):
                pass

        connection = self.get_connection(stream=ChunkStream())

        def send(name):
            for i in range(20):
                message = sms.Message(f"{name}{i}", name, [RECIPIENT, OTHER_RECIPIENT])
                connection.send_messages([message])

        threads = [threading.Thread(target=send, args=(n,)) for n in "abcd"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        records = "".join(chunks).split(SEPARATOR + "\n")[:-1]
        self.assertEqual(len(records), 4 * 20 * 2)
        for record in records:
            originator = record.split("\n")[0].removeprefix("from: ")
            self.assertRegex(record, rf"^from: {originator}\nto: \S+\n{originator}\d+")

    def test_format_message_is_the_console_record(self):
        message = sms.Message("body", "Shop", ["1", "2"])
        self.assertEqual(
            console.format_message(message),
            f"from: Shop\nto: 1\nbody\n{SEPARATOR}\nfrom: Shop\nto: 2\nbody\n"
            f"{SEPARATOR}\n",
        )
