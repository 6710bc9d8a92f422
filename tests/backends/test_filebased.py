import datetime
import os
import pathlib
import shutil
import tempfile
import unittest

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

import sms
from sms.backends import filebased
from sms.testing import ORIGINATOR, RECIPIENT, BaseSmsBackendTests
from sms.utils import message_from_binary_file, message_from_bytes
from tests.support.processes import run_as_nobody

SEPARATOR = b"-" * 79
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


class FileBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "sms.backends.filebased.SmsBackend"

    def setUp(self):
        self.tmp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp_dir, True)
        override = override_settings(SMS_FILE_PATH=self.tmp_dir)
        override.enable()
        self.addCleanup(override.disable)
        super().setUp()

    def files(self):
        return sorted(os.listdir(self.tmp_dir))

    def get_outbox_content(self):
        messages = []
        for name in self.files():
            with open(os.path.join(self.tmp_dir, name), "rb") as fp:
                records = fp.read().split(b"\n" + SEPARATOR + b"\n")
            messages.extend(message_from_bytes(r) for r in records if r)
        for message in messages:
            # message_from_bytes keeps non-ASCII bytes as surrogates (0.7.0).
            message.body = message.body.encode("ascii", "surrogateescape").decode()
        return messages

    def flush_outbox(self):
        for name in os.listdir(self.tmp_dir):
            os.unlink(os.path.join(self.tmp_dir, name))

    def test_one_file_per_instance_appended_by_every_send(self):
        first, second = sms.get_connection(), sms.get_connection()
        first.send_messages([sms.Message("1a", ORIGINATOR, [RECIPIENT])])
        first.send_messages([sms.Message("1b", ORIGINATOR, [RECIPIENT])])
        second.send_messages([sms.Message("2a", ORIGINATOR, [RECIPIENT])])
        self.assertEqual(len(self.files()), 2)
        bodies = {}
        for name in self.files():
            with open(os.path.join(self.tmp_dir, name), "rb") as fp:
                bodies[name] = [
                    message_from_bytes(r).body
                    for r in fp.read().split(b"\n" + SEPARATOR + b"\n")
                    if r
                ]
        self.assertEqual(sorted(bodies.values()), [["1a", "1b"], ["2a"]])

    def test_file_named_from_creation_time(self):
        before = datetime.datetime.now().replace(microsecond=0)
        connection = sms.get_connection()
        after = datetime.datetime.now()
        # The name is fixed when the instance is created, not at send time.
        connection.send_messages([sms.Message("named", ORIGINATOR, [RECIPIENT])])
        (name,) = self.files()
        self.assertRegex(name, r"^\d{8}-\d{6}-\d+\.log$")
        created = datetime.datetime.strptime(name[:15], "%Y%m%d-%H%M%S")
        self.assertLessEqual(before, created)
        self.assertLessEqual(created, after)

    def test_send_without_open_closes_the_file(self):
        connection = sms.get_connection()
        self.assertEqual(
            connection.send_messages([sms.Message("x", ORIGINATOR, [RECIPIENT])]), 1
        )
        self.assertIsNone(connection.stream)
        self.assertEqual(len(self.files()), 1)

    def test_open_keeps_the_file_open_until_close(self):
        connection = sms.get_connection()
        self.assertIs(connection.open(), True)
        self.assertIs(connection.open(), False)
        connection.send_messages([sms.Message("open", ORIGINATOR, [RECIPIENT])])
        self.assertIsNotNone(connection.stream)
        self.assertFalse(connection.stream.closed)
        connection.close()
        self.assertIsNone(connection.stream)
        self.assertEqual([m.body for m in self.get_outbox_content()], ["open"])

    def test_reads_back_with_message_from_binary_file(self):
        sms.send_sms("Here is the message", ORIGINATOR, [RECIPIENT])
        (name,) = self.files()
        with open(os.path.join(self.tmp_dir, name), "rb") as fp:
            message = message_from_binary_file(fp)
        self.assertEqual(message.originator, ORIGINATOR)
        self.assertEqual(message.recipients, [RECIPIENT])
        self.assertEqual(message.body, "Here is the message")

    def test_body_written_as_utf8(self):
        sms.send_sms("Grüße €", ORIGINATOR, [RECIPIENT])
        (name,) = self.files()
        with open(os.path.join(self.tmp_dir, name), "rb") as fp:
            self.assertIn("Grüße €".encode(), fp.read())

    def test_file_path_keyword_beats_setting(self):
        other = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, other, True)
        connection = sms.get_connection(file_path=other)
        connection.send_messages([sms.Message("kw", ORIGINATOR, [RECIPIENT])])
        self.assertEqual(len(os.listdir(other)), 1)
        self.assertEqual(self.files(), [])

    def test_path_like_file_path(self):
        connection = sms.get_connection(file_path=pathlib.Path(self.tmp_dir))
        self.assertEqual(connection.file_path, self.tmp_dir)

    def test_setting_read_at_construction(self):
        connection = sms.get_connection()
        with self.settings(SMS_FILE_PATH=os.path.join(self.tmp_dir, "later")):
            connection.send_messages([sms.Message("x", ORIGINATOR, [RECIPIENT])])
        self.assertEqual(len(self.files()), 1)

    def test_creates_missing_directory(self):
        path = os.path.join(self.tmp_dir, "new", "dir")
        sms.get_connection(file_path=path)
        self.assertTrue(os.path.isdir(path))

    def test_non_path_file_path_raises_fspath_type_error(self):
        with self.assertRaisesMessage(
            TypeError, "expected str, bytes or os.PathLike object, not object"
        ):
            sms.get_connection(file_path=object())

    def test_missing_path(self):
        with self.settings(SMS_FILE_PATH=None):
            with self.assertRaisesMessage(ImproperlyConfigured, "SMS_FILE_PATH"):
                sms.get_connection()

    def test_path_is_not_a_directory(self):
        path = os.path.join(self.tmp_dir, "a-file")
        pathlib.Path(path).write_text("")
        with self.assertRaisesMessage(
            ImproperlyConfigured, f"SMS_FILE_PATH {path!r} exists but is not a dir"
        ):
            sms.get_connection(file_path=path)

    @unittest.skipIf(
        RUNNING_AS_ROOT,
        "root may write to any directory, so a 0o500 directory is writable; "
        "test_unwritable_directory_for_another_user covers this as root",
    )
    def test_unwritable_directory(self):
        path = os.path.join(self.tmp_dir, "read-only")
        os.mkdir(path, 0o500)
        self.addCleanup(os.chmod, path, 0o700)
        with self.assertRaisesMessage(
            ImproperlyConfigured, f"directory {path!r} is not writable"
        ):
            sms.get_connection(file_path=path)

    @unittest.skipUnless(RUNNING_AS_ROOT, "needs root to switch to user nobody")
    def test_unwritable_directory_for_another_user(self):
        path = os.path.join(self.tmp_dir, "read-only")
        os.mkdir(path, 0o500)
        os.chmod(self.tmp_dir, 0o755)

        def construct():
            try:
                filebased.SmsBackend(file_path=path)
            except ImproperlyConfigured as err:
                return str(err)
            return "no error"

        self.assertIn(f"directory {path!r} is not writable", run_as_nobody(construct))

    def test_backend_class_is_console_subclass(self):
        from sms.backends.console import SmsBackend as ConsoleBackend

        self.assertTrue(issubclass(filebased.SmsBackend, ConsoleBackend))
