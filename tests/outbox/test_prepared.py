"""Prepared statements: the outbox prepares its own where the site allows them.

On PostgreSQL with psycopg 3, a connection whose ``OPTIONS`` set
``prepare_threshold`` lets psycopg prepare statements; the outbox's
fixed-text statements (the enqueue's INSERT, the drain's result writes, the
guard counters) then bind on the server, so psycopg prepares them too, even
where Django's own queries bind on the client. Without it,
nothing is prepared: a pooler in transaction mode shares sessions between
clients, and prepared statements live in sessions. These tests set the
threshold on the live connection, as Django does from ``OPTIONS``, and read
the session's prepared statements back from ``pg_prepared_statements``.
"""

from __future__ import annotations

from django.db import connection
from django.test import TestCase, override_settings

import sms
from sms.exceptions import RecipientOptedOut
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, GuardCounter, Message
from sms_outbox.optout import suppress

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960001", "+441134960002"
HOSTILE_BODIES = [
    "50% off, 100%% sure: %s %(name)s $1 $$ ?",
    "'); DROP TABLE sms_outbox_message; --",
    'back\\slash \\" quote " and {braces}',
    "emoji 😀 and ümlaut, CAST(1 AS int)",
]


def _runs() -> dict[str, tuple[str, int]]:
    """Return {name: (text, times run)} of this session's prepared statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement, generic_plans + custom_plans "
            "FROM pg_prepared_statements"
        )
        return {name: (text, runs) for name, text, runs in cursor.fetchall()}


def queue(body, *numbers, **options):
    backend = sms.get_connection(QUEUED, **options)
    return sms.send_sms(body, "Acme", list(numbers), connection=backend)


class PreparedTestCase(TestCase):
    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("prepared statements are PostgreSQL's (psycopg 3)")
        connection.ensure_connection()
        raw = connection.connection
        if not hasattr(raw, "prepare_threshold"):
            self.skipTest("psycopg 2 prepares nothing")
        self.raw = raw
        before = raw.prepare_threshold
        self.addCleanup(setattr, raw, "prepare_threshold", before)
        self.before = _runs()

    def outbox_statements(self) -> list[str]:
        """Return the outbox's prepared statements run since the test began.

        The session, and psycopg's cache of what it prepared, outlive a test:
        a statement an earlier test prepared is run again, not prepared again.
        """
        return [
            text
            for name, (text, runs) in _runs().items()
            if "sms_outbox" in text and runs > self.before.get(name, ("", 0))[1]
        ]

    def allow(self):
        """Turn prepared statements on, as ``OPTIONS["prepare_threshold"]`` does.

        At 0, psycopg prepares a statement the first time it runs, so that a
        test need not run each five times.
        """
        self.raw.prepare_threshold = 0


class WhereAllowedTests(PreparedTestCase):
    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
    def test_the_enqueue_and_the_drain_prepare_their_statements(self):
        self.allow()
        self.assertEqual(queue("Code 1", A), 1)
        enqueue = [t for t in self.outbox_statements() if t.startswith("INSERT")]
        self.assertEqual(len(enqueue), 1, self.outbox_statements())
        self.assertIn("NOT EXISTS", enqueue[0])
        sms.outbox = []
        result = engine.send_queued()
        self.assertEqual(result.sent, 1)
        texts = self.outbox_statements()
        self.assertTrue(
            any(t.startswith("UPDATE") and "provider_message_id" in t for t in texts),
            texts,
        )
        self.assertTrue(
            any(t.startswith('INSERT INTO "sms_outbox_attempt"') for t in texts),
            texts,
        )
        row = Message.objects.get()
        self.assertEqual(row.status, "sent")
        self.assertEqual(row.provider_message_id, sms.outbox[0].results[0].message_id)
        self.assertEqual(Attempt.objects.get().outcome, "sent")

    def test_a_prepared_enqueue_stores_the_values_whole(self):
        self.allow()
        for body in HOSTILE_BODIES * 2:  # the second round runs prepared
            queue(body, A, priority=3, ttl=600, time_zone="Europe/London")
        rows = list(Message.objects.order_by("pk"))
        self.assertEqual([row.body for row in rows], HOSTILE_BODIES * 2)
        self.assertEqual({row.priority for row in rows}, {3})
        self.assertEqual({row.time_zone for row in rows}, {"Europe/London"})
        self.assertTrue(all(row.expires_at > row.created_at for row in rows))
        self.assertEqual(len({row.reference for row in rows}), len(rows))
        self.assertEqual(Message.objects.filter(recipient=A).count(), 8)

    def test_the_prepared_enqueue_still_refuses_a_number_that_opted_out_since(self):
        self.allow()
        queue("Before", A, B)
        queue("Before", A, B)  # the statement of two rows is prepared by now
        self.assertTrue(any("NOT EXISTS" in t for t in self.outbox_statements()))
        suppress(B, "STOP", "test")
        with self.assertRaises(RecipientOptedOut):
            queue("After", A, B)
        self.assertFalse(Message.objects.filter(body="After").exists())
        # Under fail_silently the others are stored, through the same check.
        self.assertEqual(queue("After", A, B, C, fail_silently=True), 1)
        self.assertEqual(
            sorted(
                Message.objects.filter(body="After").values_list("recipient", flat=True)
            ),
            [A, C],
        )

    @override_settings(
        SMS_GUARDS={"limits": {"recipient": "2/h"}}, SMS_PRICES={"*": "0.05"}
    )
    def test_the_guard_counters_are_prepared_and_stay_exact(self):
        self.allow()
        queue("One", A)
        queue("Two", A)
        self.assertTrue(
            any("sms_outbox_guardcounter" in t for t in self.outbox_statements()),
            self.outbox_statements(),
        )
        with self.assertRaises(sms.exceptions.SendRefused):
            queue("Three", A)
        self.assertEqual(
            list(
                Message.objects.exclude(status="blocked")
                .values_list("body", flat=True)
                .order_by("pk")
            ),
            ["One", "Two"],
        )
        counter = GuardCounter.objects.get(key__startswith="recipient|")
        self.assertEqual(counter.hits, 2)


class ByDefaultTests(PreparedTestCase):
    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
    def test_nothing_is_prepared_unless_the_site_allows_it(self):
        self.raw.prepare_threshold = None  # Django's default
        for n in range(7):
            queue(f"Code {n}", A)
        sms.outbox = []
        self.assertEqual(engine.send_queued().sent, 7)
        self.assertEqual(self.outbox_statements(), [])
