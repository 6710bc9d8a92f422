"""One rate per provider account, across every drain of the site (SendRate slots)."""

import collections
import time

import pytest
from django.test import TestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import SmsConfigurationError
from sms.message import RecipientResult
from sms_outbox.drain import rate
from sms_outbox.drain import run as rate_engine
from sms_outbox.models import SendRate

PATH = "sms.backends.twilio.SmsBackend"


class ReadRateTests(TestCase):
    def test_a_number_caps_the_account(self):
        with override_settings(SMS_OUTBOX_RATE=200):
            self.assertEqual(rate.read_rate(), rate.Rate(200.0, None))

    def test_a_dict_caps_the_account_and_each_sender(self):
        with override_settings(SMS_OUTBOX_RATE={"account": 100, "sender": 1}):
            self.assertEqual(rate.read_rate(), rate.Rate(100.0, 1.0))

    def test_an_explicit_rate_replaces_the_account_figure(self):
        with override_settings(SMS_OUTBOX_RATE={"sender": 1}):
            self.assertEqual(rate.read_rate(5), rate.Rate(5.0, 1.0))

    def test_unset_is_no_cap(self):
        self.assertEqual(rate.read_rate(), rate.Rate(None, None))

    def test_bad_values_are_configuration_errors(self):
        for value, text in [
            (0, "SMS_OUTBOX_RATE is 0"),
            (-3, "SMS_OUTBOX_RATE is -3"),
            ("fast", "SMS_OUTBOX_RATE is 'fast'"),
            ({"sender": 0}, 'SMS_OUTBOX_RATE["sender"] is 0'),
            ({"per_number": 1}, "unknown keys ['per_number']"),
        ]:
            with (
                self.subTest(value=value),
                override_settings(SMS_OUTBOX_RATE=value),
                self.assertRaisesMessage(SmsConfigurationError, text),
            ):
                rate.read_rate()


class ReserveTests(TestCase):
    def test_slots_follow_each_other_at_the_interval(self):
        first = rate.reserve("acct", 0.5, 3)
        second = rate.reserve("acct", 0.5, 1)
        self.assertEqual(second, first + 1.5)
        self.assertEqual(SendRate.objects.get().next_at, first + 2.0)

    def test_a_pause_pushes_the_next_slot(self):
        start = rate.reserve("acct", 0.1, 1)
        rate.reserve("acct", 0.0, 0, not_before=start + 30)
        self.assertGreaterEqual(rate.reserve("acct", 0.1, 1), start + 30)

    def test_accounts_do_not_share_slots(self):
        a = rate.reserve("a", 10.0, 1)
        b = rate.reserve("b", 10.0, 1)
        self.assertLess(abs(a - b), 5)

    @override_settings(SMS_OUTBOX_RATE=10)
    def test_two_drains_never_get_the_same_slot(self):
        """Two drains (two pacers) take their slots from one clock, interleaved."""
        first, second = rate.Pacer(PATH, None, 4), rate.Pacer(PATH, None, 4)
        slots = []
        for _ in range(6):
            slots.append(first.account_slot(1))
            slots.append(second.account_slot(1))
        self.assertEqual(len(set(slots)), 12)
        ordered = sorted(slots)
        gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
        self.assertTrue(all(gap >= 0.1 - 1e-6 for gap in gaps), gaps)

    @override_settings(SMS_OUTBOX_RATE=5)
    def test_a_call_of_several_messages_takes_one_slot_each(self):
        pacer = rate.Pacer(PATH, None, 1)
        first = pacer.account_slot(5)
        second = pacer.account_slot(5)
        self.assertAlmostEqual(second - first, 1.0, places=6)

    @override_settings(SMS_OUTBOX_RATE={"sender": 2})
    def test_each_sender_has_its_own_slots(self):
        pacer = rate.Pacer(PATH, None, 4)
        a1, a2 = pacer.sender_slot("+12065550100"), pacer.sender_slot("+12065550100")
        b1 = pacer.sender_slot("+12065550101")
        self.assertAlmostEqual(a2 - a1, 0.5, places=6)
        self.assertLess(b1, a2)
        self.assertEqual(pacer.sender_free_at("+12065550100"), a2 + 0.5)
        self.assertEqual(
            set(SendRate.objects.values_list("key", flat=True)),
            {f"{PATH}|+12065550100", f"{PATH}|+12065550101"},
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_drains_together_keep_the_accounts_rate(shared):
    """Four drain processes, one rate: the fake provider sees no more than it."""
    from sms.testing import FakeTwilio

    per_second, rows = 20, 60
    shared.seed(rows)
    with FakeTwilio(latency=0.05) as fake:
        env = {
            "OUTBOX_BACKEND": "tests.support.outbox_backends.FakeTwilioBackend",
            "OUTBOX_FAKE_URL": fake.url,
            "OUTBOX_RATE": str(per_second),
        }
        launched = time.monotonic()  # the fake's clock
        drains = [shared.drain(**env) for _ in range(4)]
        outputs = [drain.communicate(timeout=120) for drain in drains]
        assert [drain.returncode for drain in drains] == [0] * 4, outputs
        times = sorted(at for at, _ in fake.timeline)
        bodies = [message["body"] for message in fake.messages]
    assert sorted(collections.Counter(bodies).values()) == [1] * rows
    assert shared.report()["status"] == {"sent": rows}
    # Slots are 1/20 s apart on one clock for the whole site, none before
    # the drains started, and no call goes before its slot: the k-th request
    # the provider saw came k/20 s after the launch or later. Load only
    # delays requests, so this holds however busy the machine is.
    late = [at - launched - k / per_second for k, at in enumerate(times)]
    assert min(late) >= -0.01, late
    sent = [int(out.split()[1].rstrip(",")) for out, _ in outputs]
    assert sum(sent) == rows


class TimedBackend(BaseSmsBackend):
    """Record when each SMS went out, per originator."""

    sent = collections.defaultdict(list)

    def send_messages(self, messages):
        for message in messages:
            TimedBackend.sent[message.originator].append(time.time())
            message.results = [RecipientResult(message.recipients[0], message_id="SM")]
        return len(messages)


@override_settings(
    SMS_OUTBOX_BACKEND="tests.outbox.test_rate.TimedBackend",
    SMS_OUTBOX_RATE={"sender": 10},
    SMS_OUTBOX_MAX_IN_FLIGHT=4,
)
class SenderRateTests(TestCase):
    def test_each_sender_keeps_its_rate_and_does_not_hold_up_the_others(self):
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        data = [
            (f"Message {n}", sender, [f"+441134960{n:03d}"])
            for n in range(6)
            for sender in ("+12065550100", "+12065550101")
        ]
        sms.send_mass_sms(data, connection=queued)
        TimedBackend.sent.clear()
        started = time.time()
        result = rate_engine.send_queued()
        self.assertEqual(result.sent, 12)
        first, second = (
            TimedBackend.sent["+12065550100"],
            TimedBackend.sent["+12065550101"],
        )
        self.assertEqual((len(first), len(second)), (6, 6))
        # The k-th SMS of a sender goes at its k-th slot or later: slots are
        # 0.1 s apart from the drain's start on.
        for times in (first, second):
            for k, at in enumerate(sorted(times)):
                self.assertGreaterEqual(at - started, k * 0.1 - 1e-3)
        # The second sender's rows did not wait behind the first's.
        self.assertLess(min(second), max(first))
