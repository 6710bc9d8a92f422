"""The pytest plugin, run by pytest-django in a child process on a user's project."""

import sys
import unittest

from tests.support.user_project import (
    ROOT,
    plugin_args,
    plugin_entry_point,
    write_project,
)
from tests.support.user_project import run as run_in

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

USER_TESTS = """
import pytest
from django.test import SimpleTestCase, override_settings

import sms
from sms import send_sms


def test_captured_not_sent():
    assert sms.outbox == []
    assert send_sms("Your code is 1234", None, ["+441134960000"]) == 1
    assert [m.body for m in sms.outbox] == ["Your code is 1234"]
    assert sms.outbox[0].recipients == ["+441134960000"]


def test_outbox_empty_again():
    assert sms.outbox == []
    send_sms("second", None, ["+441134960000"])
    assert len(sms.outbox) == 1


def test_fixture(smsoutbox):
    assert smsoutbox == []
    send_sms("fixture", None, ["+441134960000"])
    assert [m.body for m in smsoutbox] == ["fixture"]


class OtherClassTests(SimpleTestCase):
    def test_empty_in_a_test_case_class(self):
        self.assertEqual(sms.outbox, [])
        send_sms("class", None, ["+441134960000"])
        self.assertEqual(len(sms.outbox), 1)


@override_settings(SMS_BACKEND="sms.backends.dummy.SmsBackend")
class OwnOverrideTests(SimpleTestCase):
    def test_own_override_wins(self):
        from sms.backends.dummy import SmsBackend

        self.assertIsInstance(sms.get_connection(), SmsBackend)
        send_sms("dummy", None, ["+441134960000"])
        self.assertEqual(sms.outbox, [])


@pytest.mark.sms_real_backend
def test_marker_keeps_the_settings_backend():
    from sms.backends.twilio import SmsBackend

    assert isinstance(sms.get_connection(), SmsBackend)


def test_after_the_marker_locmem_again():
    from sms.backends.locmem import SmsBackend

    assert isinstance(sms.get_connection(), SmsBackend)
"""


def run_pytest(tmp_path, *args):
    project = write_project(tmp_path, USER_TESTS)
    (project / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = user_settings\n"
    )
    return run_in(
        project, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, "test_user.py"
    )


def test_with_pytest_django_every_test_sends_to_an_empty_outbox(tmp_path):
    result = run_pytest(tmp_path, *plugin_args())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout, result.stdout


def test_the_tests_fail_without_the_plugin(tmp_path):
    # The same project with the plugin off: the SMS go to Twilio (through a
    # proxy that refuses them), so the captured-not-sent tests fail.
    args = ["-p", "no:django_sms"] if plugin_entry_point() else []
    result = run_pytest(tmp_path, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "FAILED test_user.py::test_captured_not_sent - "
        "sms.exceptions.ProviderUnavaila" in result.stdout
    ), result.stdout


def test_inactive_without_pytest_django(tmp_path):
    project = write_project(
        tmp_path,
        """
        from django.conf import settings

        def test_settings_untouched():
            assert not settings.configured
        """,
    )
    result = run_in(
        project,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:django",
        "-q",
        *plugin_args(),
        "test_user.py",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


class EntryPointTests(unittest.TestCase):
    @unittest.skipIf(tomllib is None, "tomllib needs Python 3.11")
    def test_declared_in_pyproject(self):
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        self.assertEqual(
            project["entry-points"]["pytest11"],
            {"django_sms": "sms.testing.pytest_plugin"},
        )

    def test_installed_entry_point_loads_the_plugin(self):
        entry_point = plugin_entry_point()
        if entry_point is None:
            self.skipTest("the installed django-sms predates the entry point")
        from sms.testing import pytest_plugin

        self.assertEqual(entry_point.name, "django_sms")
        self.assertIs(entry_point.load(), pytest_plugin)
