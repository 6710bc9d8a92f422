from django.test import SimpleTestCase

import sms
from sms.backends import dummy
from sms.testing import ORIGINATOR, RECIPIENT, BaseSmsBackendTests


class DummyBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "sms.backends.dummy.SmsBackend"
    records_messages = False

    def get_outbox_content(self):
        return []

    def flush_outbox(self):
        pass

    def test_returns_len_messages_whatever_their_recipients(self):
        message = sms.Message()
        connection = dummy.SmsBackend()
        self.assertEqual(connection.send_messages([message, message, message]), 3)

    def test_sends_nothing_anywhere(self):
        sms.outbox = []
        self.addCleanup(delattr, sms, "outbox")
        sms.send_sms("nowhere", ORIGINATOR, [RECIPIENT])
        self.assertEqual(sms.outbox, [])
