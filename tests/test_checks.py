"""System checks for SMS_BACKEND and the settings it needs."""

import os
import shutil
import tempfile
import unittest

from django.apps import apps
from django.conf import settings
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

    def test_required_settings_empty(self):
        with self.settings(
            SMS_BACKEND="tests.test_checks.TokenBackend",
            SMS_TEST_TOKEN="",
            SMS_TEST_SECRET="s",
        ):
            errors = check_sms_backend(None)
        self.assertEqual(
            errors,
            [
                Error(
                    "tests.test_checks.TokenBackend needs the SMS_TEST_TOKEN "
                    "setting, which is empty.",
                    hint="Set SMS_TEST_TOKEN (from your provider's console), or "
                    "choose another backend in SMS_BACKEND.",
                    id="sms.E003",
                )
            ],
        )

    def test_twilio_token_empty(self):
        with self.settings(
            SMS_BACKEND="sms.backends.twilio.SmsBackend",
            TWILIO_ACCOUNT_SID="AC" + "0" * 32,
            TWILIO_AUTH_TOKEN="",
        ):
            errors = check_sms_backend(None)
        self.assertEqual(
            errors,
            [
                Error(
                    "sms.backends.twilio.SmsBackend needs the TWILIO_AUTH_TOKEN "
                    "setting, which is empty.",
                    hint="Set TWILIO_AUTH_TOKEN (from your provider's console), "
                    "or choose another backend in SMS_BACKEND.",
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


QUEUED_BACKEND = "sms_outbox.backends.QueuedSmsBackend"
NOT_INSTALLED_HINT = (
    "Add 'sms_outbox' to INSTALLED_APPS and run 'manage.py migrate', or set "
    "SMS_BACKEND to a backend that sends directly."
)


def without_outbox_app():
    return override_settings(
        INSTALLED_APPS=[app for app in settings.INSTALLED_APPS if app != "sms_outbox"],
        SMS_BACKEND=QUEUED_BACKEND,
    )


def outbox_not_installed_error(path=QUEUED_BACKEND):
    return Error(
        f"SMS_BACKEND is {path!r}, but 'sms_outbox' is not in INSTALLED_APPS, so "
        "the first send would fail: the queued backend stores each SMS in the "
        "outbox's tables.",
        hint=NOT_INSTALLED_HINT,
        id="sms.E004",
    )


class OutboxAppCheckTests(SimpleTestCase):
    def test_queued_backend_without_the_app(self):
        with without_outbox_app():
            self.assertFalse(apps.is_installed("sms_outbox"))
            self.assertEqual(check_sms_backend(None), [outbox_not_installed_error()])

    def test_reported_by_run_checks(self):
        with without_outbox_app():
            errors = checks.run_checks(app_configs=[apps.get_app_config("sms")])
        self.assertIn(outbox_not_installed_error(), errors)

    def test_any_outbox_path_needs_the_app(self):
        path = "sms_outbox.somewhere.Else"
        with without_outbox_app(), self.settings(SMS_BACKEND=path):
            self.assertEqual(
                check_sms_backend(None), [outbox_not_installed_error(path)]
            )

    @override_settings(SMS_BACKEND=QUEUED_BACKEND)
    def test_queued_backend_with_the_app(self):
        self.assertTrue(apps.is_installed("sms_outbox"))
        self.assertEqual(check_sms_backend(None), [])

    def test_other_backends_need_no_outbox_app(self):
        with (
            without_outbox_app(),
            self.settings(SMS_BACKEND="sms.backends.locmem.SmsBackend"),
        ):
            self.assertEqual(check_sms_backend(None), [])


class RegistrationTests(SimpleTestCase):
    def test_registered_when_installed(self):
        self.assertTrue(apps.is_installed("sms"))
        self.assertIn(check_sms_backend, checks.registry.registry.get_checks())

    @override_settings(SMS_BACKEND="sms.backends.nope.SmsBackend")
    def test_run_checks_reports_it(self):
        errors = checks.run_checks(app_configs=[apps.get_app_config("sms")])
        self.assertIn("sms.E001", [error.id for error in errors])
