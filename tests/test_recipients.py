"""The recipient-check registry that provider backends ask before sending."""

from unittest import mock

from django.test import SimpleTestCase

import sms.recipients
from sms.exceptions import RecipientOptedOut
from sms.recipients import (
    recipients_checked,
    refused_recipients,
    register_recipient_check,
    unregister_recipient_check,
)
from tests.support.processes import run_python

A, B = "+441134960000", "+441134960999"


class RegistryTests(SimpleTestCase):
    def setUp(self):
        # Only this test's checks: the outbox registered its own at start-up.
        patcher = mock.patch.object(sms.recipients, "_checks", [])
        patcher.start()
        self.addCleanup(patcher.stop)
        self.calls = []

        def check(numbers):
            self.calls.append(list(numbers))
            return {n: RecipientOptedOut("opted out") for n in numbers if n == A}

        self.check = check
        register_recipient_check(check)
        register_recipient_check(check)  # once only
        self.addCleanup(unregister_recipient_check, check)

    def test_refused_numbers_come_back_with_their_error(self):
        refused = refused_recipients([A, B, A])
        self.assertEqual(list(refused), [A])
        self.assertIsInstance(refused[A], RecipientOptedOut)
        # One call for the distinct numbers: the registered check ran once.
        self.assertEqual(self.calls, [[A, B]])

    def test_later_checks_see_only_numbers_not_refused(self):
        seen = []

        def second(numbers):
            seen.append(list(numbers))
            return {}

        register_recipient_check(second)
        self.addCleanup(unregister_recipient_check, second)
        refused_recipients([A, B])
        self.assertEqual(seen, [[B]])

    def test_inside_recipients_checked_nothing_runs(self):
        with recipients_checked():
            self.assertEqual(refused_recipients([A]), {})
        self.assertEqual(self.calls, [])
        self.assertEqual(list(refused_recipients([A])), [A])


def test_the_registry_does_not_import_the_outbox():
    # sms stays usable without sms_outbox: the dependency runs one way.
    code = (
        "import sys\n"
        "import sms.recipients\n"
        "print(sms.recipients.refused_recipients(['+441134960000']),\n"
        "      any(name.startswith('sms_outbox') for name in sys.modules))\n"
    )
    assert run_python(code) == "{} False\n"
