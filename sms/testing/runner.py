"""A Django test runner that sends every SMS to ``sms.outbox``, emptied per test.

Set ``TEST_RUNNER = "sms.testing.runner.SmsTestRunner"`` and ``manage.py
test`` treats SMS as it treats mail: ``SMS_BACKEND`` is the locmem backend
for the whole run, and ``sms.outbox`` is a new empty list before each test.
"""

from __future__ import annotations

import unittest
from typing import Any, cast

from django.test.runner import (
    DiscoverRunner,
    ParallelTestSuite,
    RemoteTestResult,
    RemoteTestRunner,
)

from sms.testing import environment


class OutboxPerTestResult(unittest.TestResult):
    """Empty ``sms.outbox`` as each test starts, after its class is set up.

    ``startTest()`` runs where Django's ``SimpleTestCase._pre_setup()`` empties
    ``mail.outbox``: after ``setUpClass()`` and ``setUpTestData()``, before
    ``setUp()``, for every kind of test case. In a worker process that was
    spawned rather than forked, it also sets up the SMS test environment.
    """

    def startTest(self, test: unittest.TestCase) -> None:
        if not environment.is_set_up():
            environment.setup_test_environment()
        environment.empty_outbox()
        super().startTest(test)


class SmsTextTestResult(OutboxPerTestResult, unittest.TextTestResult):
    """The runner's default result, emptying ``sms.outbox`` per test."""


class SmsRemoteTestResult(OutboxPerTestResult, RemoteTestResult):
    """The result a ``--parallel`` worker records, emptying ``sms.outbox`` per test."""


class SmsRemoteTestRunner(RemoteTestRunner):
    """Run a ``--parallel`` worker's tests with ``SmsRemoteTestResult``."""

    resultclass = SmsRemoteTestResult


class SmsParallelTestSuite(ParallelTestSuite):
    """Run the ``--parallel`` workers with ``SmsRemoteTestRunner``."""

    runner_class = SmsRemoteTestRunner


class SmsTestRunner(DiscoverRunner):
    """Run Django's ``DiscoverRunner`` with SMS in ``sms.outbox``, emptied per test.

    Subclass it the way you would subclass ``DiscoverRunner``; a runner of your
    own that cannot subclass it calls ``sms.testing.setup_test_environment()``
    and ``teardown_test_environment()`` from its own, and empties
    ``sms.outbox`` in ``setUp()``.
    """

    parallel_test_suite = SmsParallelTestSuite

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        environment.setup_test_environment()

    def teardown_test_environment(self, **kwargs: Any) -> None:
        environment.teardown_test_environment()
        super().teardown_test_environment(**kwargs)

    def get_resultclass(self) -> type[unittest.TextTestResult]:
        """Return Django's result class with ``sms.outbox`` emptied per test."""
        base = super().get_resultclass()
        if base is None:
            return SmsTextTestResult
        combined = type(f"Sms{base.__name__}", (OutboxPerTestResult, base), {})
        return cast(type[unittest.TextTestResult], combined)
