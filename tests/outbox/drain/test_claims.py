"""Tests for claims: taking rows under a lease, renewing it, giving rows back."""

import datetime
from unittest import mock

from django.test import TestCase, override_settings
from django.utils import timezone

import sms
from sms_outbox.drain import claims as requeue
from sms_outbox.drain.claims import KEPT_DYING, LEASE_EXPIRED, claim_rows, release_rows
from sms_outbox.models import Attempt, Message
from tests.support.clock import Clock

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A, B, C = "+441134960000", "+441134960999", "+12065550100"


def queue(*recipients, **options):
    connection = sms.get_connection(QUEUED, **options)
    sms.send_sms("Hello", "Acme", list(recipients), connection=connection)


def row(recipient):
    return Message.objects.get(recipient=recipient)


def expire(recipient, attempts=0):
    """Make ``recipient``'s row look held by a worker that died a second ago."""
    Message.objects.filter(recipient=recipient).update(
        status="sending",
        claimed_by="dead:1:x",
        attempts=attempts,
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )


class ClaimRowsTests(TestCase):
    def test_takes_due_rows_in_send_order_under_one_token(self):
        queue(A)
        queue(B, priority=5)
        queue(C)
        claim = claim_rows(2)
        self.assertEqual([r.recipient for r in claim.rows], [B, A])
        first = claim.rows[1]
        self.assertEqual(
            (first.body, first.originator, first.attempts), ("Hello", "Acme", 0)
        )
        self.assertEqual(first.reference, row(A).reference)
        for recipient in (A, B):
            self.assertEqual(
                (row(recipient).status, row(recipient).claimed_by),
                ("sending", claim.token),
            )
            self.assertIsNotNone(row(recipient).lease_expires_at)
        self.assertEqual((row(C).status, row(C).claimed_by), ("queued", ""))

    def test_leaves_rows_in_the_skip_set(self):
        queue(A, B)
        claim = claim_rows(10, skip=frozenset({row(A).pk}))
        self.assertEqual([r.recipient for r in claim.rows], [B])
        self.assertEqual(row(A).status, "queued")

    def test_leaves_rows_not_due_or_held_by_another_worker(self):
        queue(A, send_after=timezone.now() + datetime.timedelta(hours=1))
        queue(B)
        Message.objects.filter(recipient=B).update(
            status="sending",
            claimed_by="other:1:x",
            lease_expires_at=timezone.now() + datetime.timedelta(minutes=5),
        )
        self.assertEqual(claim_rows(10).rows, [])
        self.assertEqual(row(B).claimed_by, "other:1:x")

    def test_a_second_claim_never_takes_what_the_first_holds(self):
        queue(A, B, C)
        first = claim_rows(2)
        second = claim_rows(10)
        self.assertNotEqual(first.token, second.token)
        self.assertEqual(
            {r.id for r in first.rows} & {r.id for r in second.rows}, set()
        )
        self.assertEqual(len(first.rows) + len(second.rows), 3)
        self.assertEqual(claim_rows(10).rows, [])

    @override_settings(SMS_OUTBOX_LEASE_SECONDS=120)
    def test_the_lease_ends_by_the_database_clock(self):
        queue(A)
        before = timezone.now()
        # A host clock decades behind must not shorten the lease others see.
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        with mock.patch("django.utils.timezone.now", return_value=past):
            claim_rows(10)
        lease_end = row(A).lease_expires_at
        self.assertGreater(lease_end, before + datetime.timedelta(seconds=60))
        self.assertLess(lease_end, before + datetime.timedelta(seconds=180))

    @override_settings(SMS_OUTBOX_LEASE_SECONDS=60)
    def test_time_left_counts_down_by_this_process_clock(self):
        queue(A)
        clock = Clock()
        with mock.patch("sms_outbox.drain.claims.time.monotonic", clock):
            claim = claim_rows(10)
            self.assertEqual(claim.time_left(), 60)
            clock.now += 45
            self.assertEqual(claim.time_left(), 15)


@override_settings(SMS_OUTBOX_LEASE_SECONDS=60)
class RenewTests(TestCase):
    def test_renew_extends_the_lease_in_the_database_and_here(self):
        queue(A)
        clock = Clock()
        with mock.patch("sms_outbox.drain.claims.time.monotonic", clock):
            claim = claim_rows(10)
            soon = timezone.now() + datetime.timedelta(seconds=5)
            Message.objects.update(lease_expires_at=soon)
            clock.now += 55
            self.assertEqual(claim.renew(claim.rows), claim.rows)
            self.assertEqual(claim.time_left(), 60)
        self.assertGreater(
            row(A).lease_expires_at, soon + datetime.timedelta(seconds=30)
        )

    def test_renew_reports_only_rows_still_held(self):
        queue(A, B)
        claim = claim_rows(10)
        # Another worker took B back (its lease ran out) and put it back.
        Message.objects.filter(recipient=B).update(
            status="queued", claimed_by="", lease_expires_at=None
        )
        kept = claim.renew(claim.rows)
        self.assertEqual([r.recipient for r in kept], [A])
        self.assertEqual((row(B).status, row(B).lease_expires_at), ("queued", None))

    def test_renewing_nothing_asks_the_database_nothing(self):
        queue(A)
        claim = claim_rows(10)
        with self.assertNumQueries(0):
            self.assertEqual(claim.renew([]), [])


class ReleaseTests(TestCase):
    def test_rows_go_back_to_the_queue_without_using_an_attempt(self):
        queue(A, B)
        claim = claim_rows(10)
        self.assertEqual(release_rows(claim.token, [r.id for r in claim.rows]), 2)
        for recipient in (A, B):
            released = row(recipient)
            self.assertEqual(
                (released.status, released.claimed_by, released.attempts),
                ("queued", "", 0),
            )
            self.assertIsNone(released.lease_expires_at)
        self.assertFalse(Attempt.objects.exists())
        self.assertEqual(len(claim_rows(10).rows), 2)

    def test_release_leaves_rows_the_claim_no_longer_holds(self):
        queue(A, B)
        claim = claim_rows(10)
        Message.objects.filter(recipient=A).update(claimed_by="someone-else")
        self.assertEqual(release_rows(claim.token, [r.id for r in claim.rows]), 1)
        self.assertEqual(
            (row(A).status, row(A).claimed_by), ("sending", "someone-else")
        )
        self.assertEqual(row(B).status, "queued")

    def test_releasing_nothing_asks_the_database_nothing(self):
        with self.assertNumQueries(0):
            self.assertEqual(release_rows("token", []), 0)


class RequeueExpiredTests(TestCase):
    @override_settings(SMS_OUTBOX_MAX_ATTEMPTS=3)
    def test_an_expired_lease_uses_an_attempt_and_the_last_one_fails_the_row(self):
        queue(A, B)
        expire(A, 0)
        expire(B, 2)
        with self.assertLogs("sms_outbox.drain.claims", "WARNING"):
            self.assertEqual(requeue.requeue_expired(), 2)
        a, b = row(A), row(B)
        self.assertEqual(
            (a.status, a.attempts, a.last_error), ("queued", 1, LEASE_EXPIRED)
        )
        self.assertEqual(
            (b.status, b.attempts, b.last_error), ("failed", 3, KEPT_DYING)
        )
        self.assertIsNone(a.finished_at)
        self.assertIsNotNone(b.finished_at)
        self.assertEqual((a.claimed_by, a.lease_expires_at), ("", None))
        self.assertEqual(
            list(Attempt.objects.values_list("outcome", flat=True)), ["unknown"] * 2
        )

    @override_settings(SMS_OUTBOX_MAX_ATTEMPTS=3)
    def test_a_row_that_kills_every_worker_fails_at_the_last_attempt(self):
        queue(A)
        for expected in (("queued", 1), ("queued", 2), ("failed", 3)):
            taken = claim_rows(10)
            self.assertEqual([r.recipient for r in taken.rows], [A])
            # The worker dies holding it; its lease runs out.
            Message.objects.update(
                lease_expires_at=timezone.now() - datetime.timedelta(seconds=1)
            )
            with self.assertLogs("sms_outbox.drain.claims", "WARNING") as logs:
                self.assertEqual(requeue.requeue_expired(), 1)
            self.assertIn("Took back 1", logs.output[0])
            self.assertEqual((row(A).status, row(A).attempts), expected)
        self.assertIn("died or outlived its lease", row(A).last_error)
        self.assertEqual(claim_rows(10).rows, [])
        self.assertEqual(row(A).attempts_log.filter(outcome="unknown").count(), 3)

    def test_a_lease_still_running_by_the_database_clock_is_left(self):
        queue(A)
        Message.objects.filter(recipient=A).update(
            status="sending",
            claimed_by="alive:1:x",
            lease_expires_at=timezone.now() + datetime.timedelta(minutes=1),
        )
        # A host clock a day ahead must not take the row from a live worker.
        ahead = timezone.now() + datetime.timedelta(days=1)
        with mock.patch("django.utils.timezone.now", return_value=ahead):
            self.assertEqual(requeue.requeue_expired(), 0)
        self.assertEqual((row(A).claimed_by, row(A).attempts), ("alive:1:x", 0))

    def test_with_nothing_expired_it_only_reads(self):
        queue(A)
        claim_rows(10)
        with self.assertNumQueries(1):
            self.assertEqual(requeue.requeue_expired(), 0)
        self.assertFalse(Attempt.objects.exists())
