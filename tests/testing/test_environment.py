"""sms.outbox from import on, the test environment switch, and the drain helper."""

from unittest import mock

from django.test import SimpleTestCase, TestCase, override_settings

import sms
from sms.backends.locmem import SmsBackend as LocmemBackend
from sms.testing import environment
from sms_outbox.testing import send_queued_to_locmem
from tests.support.processes import run_python

TWILIO = "sms.backends.twilio.SmsBackend"
TWILIO_SETTINGS = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x"}


class OutboxAttributeTests(SimpleTestCase):
    def test_exists_and_is_empty_from_import(self):
        self.assertEqual(run_python("import sms; print(repr(sms.outbox))"), "[]\n")


class TestEnvironmentTests(SimpleTestCase):
    def setUp(self):
        # A fresh record of the switch, so that the test does not undo the
        # one a test runner made for the whole run.
        patcher = mock.patch.object(
            environment, "_environment", environment._Environment()
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    @override_settings(SMS_BACKEND=TWILIO, **TWILIO_SETTINGS)
    def test_switches_to_locmem_and_back(self):
        sms.outbox.append("left over")
        environment.setup_test_environment()
        try:
            self.assertTrue(environment.is_set_up())
            self.assertIsInstance(sms.get_connection(), LocmemBackend)
            self.assertEqual(sms.outbox, [])
            self.assertEqual(environment.settings_backend(), TWILIO)
            sms.send_sms("Hi", None, ["+441134960000"])
        finally:
            environment.teardown_test_environment()
        self.assertFalse(environment.is_set_up())
        self.assertEqual(sms.outbox, [])
        self.assertEqual(sms.conf.get_setting("SMS_BACKEND"), TWILIO)

    def test_a_tests_own_override_wins(self):
        environment.setup_test_environment()
        self.addCleanup(environment.teardown_test_environment)
        with self.settings(SMS_BACKEND="sms.backends.dummy.SmsBackend"):
            from sms.backends.dummy import SmsBackend

            self.assertIsInstance(sms.get_connection(), SmsBackend)
        self.assertIsInstance(sms.get_connection(), LocmemBackend)

    def test_set_up_twice_is_an_error(self):
        environment.setup_test_environment()
        self.addCleanup(environment.teardown_test_environment)
        with self.assertRaisesMessage(RuntimeError, "was already called"):
            environment.setup_test_environment()

    def test_teardown_without_setup_does_nothing(self):
        with self.settings(SMS_BACKEND=TWILIO):
            environment.teardown_test_environment()
            self.assertEqual(sms.conf.get_setting("SMS_BACKEND"), TWILIO)

    @override_settings(SMS_BACKEND=TWILIO)
    def test_settings_backend_outside_the_environment(self):
        self.assertEqual(environment.settings_backend(), TWILIO)

    def test_empty_outbox_rebinds_a_new_list(self):
        before = sms.outbox
        before.append("x")
        environment.empty_outbox()
        self.assertEqual(sms.outbox, [])
        self.assertIsNot(sms.outbox, before)


@override_settings(
    SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend",
    # Without the helper the drain would call Twilio and fail there.
    SMS_OUTBOX_BACKEND=TWILIO,
    DEFAULT_FROM_SMS="+12065550100",
    **TWILIO_SETTINGS,
)
class SendQueuedToLocmemTests(TestCase):
    def test_drains_the_queue_into_the_outbox_inside_a_test_case(self):
        from sms_outbox.models import Message as Queued

        sms.outbox = []
        sms.send_sms("Your code is 1234", None, ["+441134960000"])
        self.assertEqual(sms.outbox, [])
        result = send_queued_to_locmem()
        self.assertEqual((result.sent, result.retrying, result.failed), (1, 0, 0))
        self.assertEqual([m.body for m in sms.outbox], ["Your code is 1234"])
        self.assertEqual(sms.outbox[0].recipients, ["+441134960000"])
        self.assertEqual(Queued.objects.get().status, Queued.Status.SENT)
        self.assertEqual(sms.conf.get_setting("SMS_OUTBOX_BACKEND"), TWILIO)

    def test_passes_arguments_on(self):
        sms.outbox = []
        for body in ("one", "two"):
            sms.send_sms(body, None, ["+441134960000"])
        self.assertEqual(send_queued_to_locmem(limit=1).sent, 1)
        self.assertEqual(len(sms.outbox), 1)
