"""System checks for SMS_BACKEND and the settings it needs."""

import os
import shutil
import tempfile
import unittest

from django.apps import apps
from django.core import checks
from django.core.checks import Error
from django.test import SimpleTestCase, override_settings

from sms.backends.base import BaseSmsBackend
from sms.backends.filebased import SmsBackend as FileBackend
from sms.checks import check_backend_setting, check_sms_backend
from tests.support.processes import run_as_nobody

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
FILE_BACKEND = "sms.backends.filebased.SmsBackend"
FILE_HINT = "Set SMS_FILE_PATH to a writable directory."


class TokenBackend(BaseSmsBackend):
    required_settings = ("SMS_TEST_TOKEN", "SMS_TEST_SECRET")

    def send_messages(self, messages):
        return len(messages)


class FileSubclassBackend(FileBackend):
    pass


def file_error(problem, id_="sms.E002"):
    return Error(
        f"{problem}, but the file SMS backend writes messages there.",
        hint=FILE_HINT,
        id=id_,
    )


class CheckBackendSettingTests(SimpleTestCase):
    def setUp(self):
        self.tmp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp_dir, True)

    @override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
    def test_valid(self):
        self.assertEqual(check_sms_backend(None), [])

    @override_settings(SMS_BACKEND=None)
    def test_not_set(self):
        self.assertEqual(
            check_sms_backend(None),
            [
                Error(
                    "SMS_BACKEND is not set.",
                    hint="Set SMS_BACKEND to a backend path such as "
                    "'sms.backends.console.SmsBackend'.",
                    id="sms.E001",
                )
            ],
        )

    @override_settings(SMS_BACKEND="sms.backends.nope.SmsBackend")
    def test_module_not_importable(self):
        self.assertEqual(
            check_sms_backend(None),
            [
                Error(
                    "SMS_BACKEND 'sms.backends.nope.SmsBackend' cannot be imported: "
                    "No module named 'sms.backends.nope'.",
                    hint="Fix the dotted path in SMS_BACKEND.",
                    id="sms.E001",
                )
            ],
        )

    @override_settings(SMS_BACKEND="sms.backends.console.Nope")
    def test_class_not_found(self):
        self.assertEqual(
            check_sms_backend(None),
            [
                Error(
                    "SMS_BACKEND 'sms.backends.console.Nope' cannot be imported: "
                    'Module "sms.backends.console" does not define a "Nope" '
                    "attribute/class.",
                    hint="Fix the dotted path in SMS_BACKEND.",
                    id="sms.E001",
                )
            ],
        )

    @override_settings(SMS_BACKEND=BaseSmsBackend)
    def test_not_a_string(self):
        self.assertEqual(
            check_sms_backend(None),
            [
                Error(
                    f"SMS_BACKEND is {BaseSmsBackend!r}, not a dotted path string.",
                    hint="Set SMS_BACKEND to a backend path such as "
                    "'sms.backends.console.SmsBackend'.",
                    id="sms.E001",
                )
            ],
        )

    def test_file_backend_with_directory(self):
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=self.tmp_dir):
            self.assertEqual(check_sms_backend(None), [])

    def test_file_backend_directory_created_later(self):
        path = os.path.join(self.tmp_dir, "not-yet")
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=path):
            self.assertEqual(check_sms_backend(None), [])

    @override_settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=None)
    def test_file_backend_without_path(self):
        self.assertEqual(
            check_sms_backend(None), [file_error("SMS_FILE_PATH is not set")]
        )

    @override_settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=42)
    def test_file_backend_path_not_a_path(self):
        self.assertEqual(
            check_sms_backend(None), [file_error("SMS_FILE_PATH 42 is not a path")]
        )

    def test_file_backend_path_is_a_file(self):
        path = os.path.join(self.tmp_dir, "file")
        open(path, "w").close()
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=path):
            self.assertEqual(
                check_sms_backend(None),
                [file_error(f"SMS_FILE_PATH {path!r} is not a directory")],
            )

    def test_file_backend_path_cannot_be_created(self):
        a_file = os.path.join(self.tmp_dir, "file")
        open(a_file, "w").close()
        path = os.path.join(a_file, "sub", "dir")
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=path):
            self.assertEqual(
                check_sms_backend(None),
                [
                    file_error(
                        f"SMS_FILE_PATH {path!r} does not exist and cannot be created"
                    )
                ],
            )

    @unittest.skipIf(
        RUNNING_AS_ROOT,
        "root may write to any directory, so os.access() reports a 0o500 "
        "directory writable; the test below checks this as user nobody",
    )
    def test_file_backend_path_not_writable(self):
        path = os.path.join(self.tmp_dir, "read-only")
        os.mkdir(path, 0o500)
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=path):
            self.assertEqual(
                check_sms_backend(None),
                [file_error(f"SMS_FILE_PATH {path!r} is not writable")],
            )

    @unittest.skipUnless(RUNNING_AS_ROOT, "needs root to switch to user nobody")
    def test_file_backend_path_not_writable_for_another_user(self):
        path = os.path.join(self.tmp_dir, "read-only")
        os.mkdir(path, 0o500)
        os.chmod(self.tmp_dir, 0o755)
        with self.settings(SMS_BACKEND=FILE_BACKEND, SMS_FILE_PATH=path):
            report = run_as_nobody(lambda: check_sms_backend(None))
        self.assertEqual(
            report, str([file_error(f"SMS_FILE_PATH {path!r} is not writable")])
        )

    def test_file_backend_subclass_checked(self):
        backend = "tests.test_checks.FileSubclassBackend"
        with self.settings(SMS_BACKEND=backend, SMS_FILE_PATH=None):
            self.assertEqual(
                check_sms_backend(None), [file_error("SMS_FILE_PATH is not set")]
            )

    @override_settings(SMS_BACKEND="tests.test_checks.TokenBackend", SMS_TEST_TOKEN="t")
    def test_required_settings(self):
        self.assertEqual(
            check_sms_backend(None),
            [
                Error(
                    "tests.test_checks.TokenBackend needs the SMS_TEST_SECRET "
                    "setting, which is not set.",
                    hint="Set SMS_TEST_SECRET (from your provider's console), or "
                    "choose another backend in SMS_BACKEND.",
                    id="sms.E003",
                )
            ],
        )

    def test_required_settings_present(self):
        with self.settings(
            SMS_BACKEND="tests.test_checks.TokenBackend",
            SMS_TEST_TOKEN="t",
            SMS_TEST_SECRET="s",
        ):
            self.assertEqual(check_sms_backend(None), [])

    @override_settings(SMS_OUTBOX_BACKEND=FILE_BACKEND, SMS_FILE_PATH=None)
    def test_other_setting_and_id_prefix(self):
        self.assertEqual(
            check_backend_setting("SMS_OUTBOX_BACKEND", "sms_outbox"),
            [file_error("SMS_FILE_PATH is not set", "sms_outbox.E002")],
        )


class RegistrationTests(SimpleTestCase):
    def test_registered_when_installed(self):
        self.assertTrue(apps.is_installed("sms"))
        self.assertIn(check_sms_backend, checks.registry.registry.get_checks())

    @override_settings(SMS_BACKEND="sms.backends.nope.SmsBackend")
    def test_run_checks_reports_it(self):
        errors = checks.run_checks(app_configs=[apps.get_app_config("sms")])
        self.assertIn("sms.E001", [error.id for error in errors])
