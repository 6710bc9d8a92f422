"""SmsTestRunner: ``manage.py test`` on a user's project, in a child process."""

import unittest

from django.test import SimpleTestCase

from sms.testing.runner import OutboxPerTestResult, SmsTestRunner
from tests.support.user_project import run, write_project

SETTINGS = """
INSTALLED_APPS += ["sms_outbox"]
SMS_OUTBOX_BACKEND = "sms.backends.twilio.SmsBackend"
DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
TEST_RUNNER = "sms.testing.runner.SmsTestRunner"
"""

# Every test checks the outbox is empty, then sends: whichever runs second
# fails unless the outbox is emptied between tests, classes included.
USER_TESTS = """
import unittest

from django.test import SimpleTestCase, TestCase, override_settings

import sms
from sms import send_sms
from sms_outbox.testing import send_queued_to_locmem


class Sends:
    def send_one(self):
        self.assertEqual(sms.outbox, [])
        self.assertEqual(send_sms("Hi", None, ["+441134960000"]), 1)
        self.assertEqual([m.body for m in sms.outbox], ["Hi"])

    def test_one(self):
        self.send_one()

    def test_two(self):
        self.send_one()


class ASimpleTests(Sends, SimpleTestCase):
    pass


class BDatabaseTests(Sends, TestCase):
    @override_settings(SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend")
    def test_queued_then_drained(self):
        send_sms("Queued", None, ["+441134960000"])
        self.assertEqual(sms.outbox, [])
        self.assertEqual(send_queued_to_locmem().sent, 1)
        self.assertEqual([m.body for m in sms.outbox], ["Queued"])


class CPlainUnittestTests(Sends, unittest.TestCase):
    pass
"""


def run_tests(tmp_path, *args):
    project = write_project(tmp_path, USER_TESTS, SETTINGS)
    return run(
        project,
        "-m",
        "django",
        "test",
        "test_user",
        "--settings=user_settings",
        "-v",
        "2",
        *args,
    )


def assert_all_passed(result):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 7 tests" in output, output
    assert "\nOK" in output, output


def test_manage_py_test_captures_and_empties_per_test(tmp_path):
    assert_all_passed(run_tests(tmp_path))


def test_parallel_workers_empty_per_test(tmp_path):
    result = run_tests(tmp_path, "--parallel", "2")
    assert_all_passed(result)
    assert result.stderr.count("Cloning test database") == 2, result.stderr


def test_spawned_workers_set_up_and_empty_per_test(tmp_path):
    project = write_project(tmp_path, USER_TESTS, SETTINGS)
    (project / "spawn_test.py").write_text(
        "import multiprocessing, sys\n"
        "from django.core.management import execute_from_command_line\n"
        "if __name__ == '__main__':\n"
        "    multiprocessing.set_start_method('spawn')\n"
        "    execute_from_command_line(['manage.py', 'test', 'test_user',\n"
        "        '--settings=user_settings', '-v', '2', '--parallel', '2'])\n"
    )
    result = run(project, "spawn_test.py")
    assert_all_passed(result)
    assert result.stderr.count("Cloning test database") == 2, result.stderr


def test_without_the_runner_the_tests_reach_twilio(tmp_path):
    result = run_tests(tmp_path, "--testrunner", "django.test.runner.DiscoverRunner")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sms.exceptions.ProviderUnavailable" in result.stderr, result.stderr


class ResultClassTests(SimpleTestCase):
    def test_default_result_class_empties_the_outbox(self):
        self.assertTrue(
            issubclass(SmsTestRunner().get_resultclass(), OutboxPerTestResult)
        )

    def test_debug_sql_result_class_keeps_its_behaviour(self):
        from django.test.runner import DebugSQLTextTestResult

        resultclass = SmsTestRunner(debug_sql=True).get_resultclass()
        self.assertTrue(issubclass(resultclass, OutboxPerTestResult))
        self.assertTrue(issubclass(resultclass, DebugSQLTextTestResult))

    def test_start_test_empties_the_outbox(self):
        import sms

        sms.outbox.append("left over")
        result = SmsTestRunner().get_resultclass()(
            unittest.runner._WritelnDecorator(open("/dev/null", "w")), False, 0
        )
        self.addCleanup(result.stream.close)
        result.startTest(self)
        self.assertEqual(sms.outbox, [])
