"""Concurrent callbacks for one row record each change once (server databases)."""

import threading
import unittest

from django.db import connection, connections
from django.test import Client, TransactionTestCase, override_settings

from sms_outbox.models import Receipt
from sms_outbox.signals import delivery_status_changed
from tests.support.receipts import SETTINGS, make_row, post_twilio, twilio_fields

SID = "SM" + "e" * 32
THREADS = 8


@unittest.skipUnless(
    connection.vendor in ("postgresql", "mysql"),
    "needs a database with concurrent writers",
)
@override_settings(**SETTINGS)
class ConcurrentCallbackTests(TransactionTestCase):
    def setUp(self):
        self.row = make_row(provider_message_id=SID)
        self.changes = []
        self.lock = threading.Lock()
        delivery_status_changed.connect(self.receive)
        self.addCleanup(delivery_status_changed.disconnect, self.receive)

    def receive(self, old_status, new_status, **kwargs):
        with self.lock:
            self.changes.append((old_status, new_status))

    def post_at_once(self, statuses):
        barrier = threading.Barrier(len(statuses))
        codes = []

        def post(status):
            try:
                barrier.wait()
                response = post_twilio(Client(), twilio_fields(SID, status))
                with self.lock:
                    codes.append(response.status_code)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=post, args=(s,)) for s in statuses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(codes, [200] * len(statuses))

    def test_the_same_callback_at_once_is_recorded_once(self):
        self.post_at_once(["delivered"] * THREADS)
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
        self.assertEqual(self.row.receipts.count(), 1)
        self.assertEqual(self.changes, [("", "delivered")])

    def test_racing_statuses_end_at_the_highest_and_never_go_back(self):
        self.post_at_once(["queued", "sent", "delivered", "sent"] * (THREADS // 4))
        self.row.refresh_from_db()
        self.assertEqual(self.row.delivery_status, "delivered")
        receipts = Receipt.objects.filter(message=self.row).order_by("pk")
        texts = [receipt.status for receipt in receipts]
        order = ["queued", "sent", "delivered"]
        self.assertEqual(texts, sorted(texts, key=order.index))
        self.assertEqual(len(texts), len(set(texts)))
        self.assertEqual(len(self.changes), len(texts))
