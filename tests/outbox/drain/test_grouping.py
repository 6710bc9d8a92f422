"""Rows with one body and originator go to MessageBird in one call each 50."""

from django.test import TestCase, override_settings

import sms
from sms.backends.messagebird import SmsBackend as MessageBirdBackend
from sms.exceptions import ProviderAccountError
from sms.signals import post_send
from sms.testing import FakeMessageBird
from sms_outbox.drain import run as engine
from sms_outbox.drain.claims import ClaimedRow
from sms_outbox.drain.run import group_rows
from sms_outbox.models import Attempt, Message


class FakeMessageBirdBackend(MessageBirdBackend):
    """The real MessageBird backend and SDK, pointed at ``fake_url``."""

    fake_url = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("api_url", FakeMessageBirdBackend.fake_url)
        super().__init__(*args, **kwargs)


def numbers(count):
    return [f"+4411349600{n:02d}" for n in range(count)]


class GroupRowsTests(TestCase):
    def row(self, pk, recipient, body="Hi", originator="Shop"):
        return ClaimedRow(pk, body, originator, recipient, f"ref{pk}", 0)

    def test_groups_share_body_and_originator_and_keep_first_row_order(self):
        rows = [
            self.row(1, "+1"),
            self.row(2, "+2", body="Other"),
            self.row(3, "+3"),
            self.row(4, "+4", originator="Bank"),
            self.row(5, "+5"),
        ]
        groups = [[row.id for row in group] for group in group_rows(rows, 50)]
        self.assertEqual(groups, [[1, 3, 5], [2], [4]])

    def test_a_group_never_holds_one_number_twice_or_more_than_size(self):
        rows = [self.row(pk, f"+{pk % 3}") for pk in range(1, 8)]
        groups = group_rows(rows, 2)
        self.assertTrue(all(len(group) <= 2 for group in groups))
        for group in groups:
            recipients = [row.recipient for row in group]
            self.assertEqual(len(recipients), len(set(recipients)))
        self.assertEqual(sorted(r.id for g in groups for r in g), list(range(1, 8)))

    def test_size_one_sends_each_row_alone(self):
        rows = [self.row(pk, f"+{pk}") for pk in range(1, 4)]
        self.assertEqual([len(g) for g in group_rows(rows, 1)], [1, 1, 1])


class GroupedDrainTests(TestCase):
    def setUp(self):
        self.fake = FakeMessageBird().start()
        self.addCleanup(self.fake.stop)
        FakeMessageBirdBackend.fake_url = self.fake.url
        self.addCleanup(setattr, FakeMessageBirdBackend, "fake_url", None)
        settings = override_settings(
            SMS_OUTBOX_BACKEND=f"{__name__}.FakeMessageBirdBackend",
            MESSAGEBIRD_ACCESS_KEY=self.fake.access_key,
            SMS_OUTBOX_RETRY_DELAY=0,
        )
        settings.enable()
        self.addCleanup(settings.disable)

    def queue(self, recipients, body="Hello"):
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        sms.send_sms(body, "Shop", recipients, connection=queued)

    def test_120_rows_go_out_in_a_few_calls_each_row_with_its_own_result(self):
        self.queue(numbers(60))
        self.queue(numbers(60), body="Other")
        result = engine.send_queued()
        self.assertEqual(result.sent, 120)
        sizes = [len(m["recipients"]) for m in self.fake.messages]
        # Claims of 50 first, then larger: no call over 50, one per claim and body.
        self.assertEqual(sum(sizes), 120)
        self.assertLessEqual(max(sizes), 50)
        self.assertLessEqual(len(sizes), 5)
        calls = {m["id"]: m for m in self.fake.messages}
        for row in Message.objects.all():
            self.assertEqual(row.status, "sent")
            call = calls[row.provider_message_id]
            self.assertIn(row.recipient, call["recipients"])
            self.assertEqual(call["body"], row.body)
        self.assertEqual(Attempt.objects.filter(outcome="sent").count(), 120)

    @override_settings(SMS_OUTBOX_GROUP_SENDS=False)
    def test_the_setting_turns_grouping_off(self):
        self.queue(numbers(5))
        self.assertEqual(engine.send_queued().sent, 5)
        self.assertEqual([len(m["recipients"]) for m in self.fake.messages], [1] * 5)

    def test_post_send_fires_once_per_row_with_that_rows_number(self):
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append(tuple(instance.recipients))

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        self.queue(numbers(3))
        engine.send_queued()
        self.assertEqual(sorted(seen), [(n,) for n in numbers(3)])

    def test_a_call_refused_as_a_whole_is_sent_again_row_by_row(self):
        self.queue(numbers(3))
        self.fake.script(self.fake.error(422, 9, "no (correct) recipients found"))
        result = engine.send_queued()
        # The refused group used no attempt; each row then went alone.
        self.assertEqual(result.sent, 3)
        self.assertEqual([len(m["recipients"]) for m in self.fake.messages], [1, 1, 1])
        self.assertEqual(Attempt.objects.filter(outcome="failed").count(), 0)

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # the script is for the first call
    def test_a_refused_single_row_fails_and_the_others_are_sent(self):
        self.queue(numbers(3))
        refused = self.fake.error(422, 9, "no (correct) recipients found")
        self.fake.script(refused, refused)  # the group, then the first row alone
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed), (2, 1))
        failed = Message.objects.get(status="failed")
        self.assertEqual(failed.recipient, numbers(3)[0])

    def test_a_retryable_error_puts_the_whole_group_back(self):
        self.queue(numbers(4))
        self.fake.script(self.fake.failure_reply())
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying), (0, 4))
        self.assertEqual(len(self.fake.requests), 1)
        rows = Message.objects.all()
        self.assertEqual({(r.status, r.attempts) for r in rows}, {("queued", 1)})

    def test_an_account_error_stops_the_run_and_uses_no_attempt(self):
        self.queue(numbers(4))
        self.fake.script(self.fake.error(401, 2, "Request not allowed"))
        with self.assertLogs("sms_outbox.drain.sending", "ERROR"):
            result = engine.send_queued()
        self.assertIsInstance(result.error, ProviderAccountError)
        self.assertEqual(
            set(Message.objects.values_list("status", "attempts")), {("queued", 0)}
        )
        self.assertFalse(Attempt.objects.exists())


class ShareReferenceTests(TestCase):
    def test_rows_take_the_first_rows_reference_only_while_the_claim_holds_them(self):
        from sms_outbox.drain.claims import claim_rows

        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        sms.send_sms("Hi", "Shop", numbers(3), connection=queued)
        claim = claim_rows(10)
        shared = claim.share_reference(claim.rows)
        first = claim.rows[0].reference
        self.assertEqual({row.reference for row in shared}, {first})
        self.assertEqual(
            set(Message.objects.values_list("reference", flat=True)), {first}
        )
        # Another worker took a row back: the claim no longer holds them all.
        Message.objects.filter(pk=claim.rows[2].id).update(claimed_by="other")
        self.assertIsNone(claim.share_reference(claim.rows))
