from django.test import SimpleTestCase

import sms
from sms.testing import ORIGINATOR, RECIPIENT, BaseSmsBackendTests


class LocmemBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "sms.backends.locmem.SmsBackend"

    def get_outbox_content(self):
        return [
            sms.Message(m.body, m.originator, [r])
            for m in getattr(sms, "outbox", [])
            for r in m.recipients
        ]

    def flush_outbox(self):
        sms.outbox = []

    def test_outbox_rebound_by_tests(self):
        mine = []
        sms.outbox = mine
        sms.send_sms("x", ORIGINATOR, [RECIPIENT])
        self.assertEqual(len(mine), 1)
        self.assertIsInstance(mine[0].recipients, list)

    def test_outbox_created_when_absent(self):
        del sms.outbox
        sms.get_connection()
        self.assertEqual(sms.outbox, [])

    def test_stores_a_copy(self):
        message = sms.Message("copy", ORIGINATOR, [RECIPIENT])
        message.send()
        message.recipients.append("+441134960999")
        self.assertEqual(sms.outbox[0].recipients, [RECIPIENT])
        self.assertIsNot(sms.outbox[0], message)

    def test_results_carry_message_ids(self):
        message = sms.Message("ids", ORIGINATOR, [RECIPIENT])
        message.send()
        self.assertRegex(message.results[0].message_id, r"^[0-9a-f]{32}$")

    def test_shared_between_instances(self):
        from sms.backends import locmem

        message = sms.Message("Content", "0600000000", ["0600000000"])
        for connection in (locmem.SmsBackend(), locmem.SmsBackend()):
            connection.send_messages([message])
        self.assertEqual(len(sms.outbox), 2)

    def test_outbox_is_plain_list_of_messages(self):
        sms.send_sms("plain", ORIGINATOR, RECIPIENT)
        self.assertIs(type(sms.outbox), list)
        self.assertIsInstance(sms.outbox[0], sms.Message)
        self.assertEqual(sms.outbox[0].recipients, [RECIPIENT])
