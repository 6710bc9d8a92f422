"""Tests for retry_when_locked(): lock conflicts the server asks us to retry."""

from django.db import OperationalError
from django.test import SimpleTestCase

from sms_outbox.sql import is_lock_conflict, retry_when_locked


class RetryWhenLockedTests(SimpleTestCase):
    def flaky(self, *errors):
        calls = []

        def call(value, *, twice=False):
            calls.append(value)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return value * (2 if twice else 1)

        return call, calls

    def test_deadlocks_lock_waits_and_sqlite_locks_are_retried(self):
        call, calls = self.flaky(
            OperationalError(1213, "Deadlock found when trying to get lock"),
            OperationalError(1205, "Lock wait timeout exceeded"),
            OperationalError("database is locked"),
        )
        self.assertEqual(retry_when_locked(call, 21, twice=True), 42)
        self.assertEqual(len(calls), 4)

    def test_other_errors_reach_the_caller_at_once(self):
        call, calls = self.flaky(OperationalError(2006, "MySQL server has gone away"))
        with self.assertRaises(OperationalError):
            retry_when_locked(call, 1)
        self.assertEqual(len(calls), 1)
        self.assertFalse(is_lock_conflict(ValueError("database is locked")))
