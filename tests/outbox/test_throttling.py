"""429s obeyed: a throttling answer slows the connection and uses no attempt."""

import time
from email.utils import formatdate
from unittest import mock

from django.test import TestCase, override_settings

import sms
from sms.backends import aws, messagebird, twilio, vonage
from sms.backends._errors import seconds_to_wait
from sms.exceptions import ProviderThrottled, ProviderUnavailable
from sms.testing import FakeMessageBird, FakeSns, FakeTwilio, FakeVonage
from sms_outbox.drain import rate
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message
from tests.support.outbox_backends import FakeTwilioBackend

A, B, C = "+441134960000", "+441134960999", "+12065550100"
PATH = "sms.backends.twilio.SmsBackend"


def _backend(fake):
    if isinstance(fake, FakeTwilio):
        return twilio.SmsBackend(
            api_url=fake.url, account_sid=fake.account_sid, auth_token=fake.auth_token
        )
    if isinstance(fake, FakeMessageBird):
        return messagebird.SmsBackend(api_url=fake.url, access_key=fake.access_key)
    if isinstance(fake, FakeVonage):
        return vonage.SmsBackend(
            api_url=fake.url, api_key=fake.api_key, api_secret=fake.api_secret
        )
    return aws.SmsBackend(
        api_url=fake.url,
        region_name="eu-west-1",
        aws_access_key_id=fake.access_key,
        aws_secret_access_key=fake.secret_key,
    )


class ProviderThrottlingTests(TestCase):
    """Each provider's "too many requests", over real HTTP, is ProviderThrottled."""

    def throttled(self, fake):
        with fake:
            fake.script(fake.throttle_reply())
            backend = _backend(fake)
            with self.assertRaises(ProviderThrottled) as caught:
                sms.send_sms("Hi", "+12065550100", [A], connection=backend)
        self.assertIsInstance(caught.exception, ProviderUnavailable)
        self.assertTrue(caught.exception.retryable)
        return caught.exception

    def test_twilio_429_20429_with_retry_after(self):
        error = self.throttled(FakeTwilio(retry_after=2))
        self.assertEqual((error.code, error.retry_after), (20429, 2.0))

    def test_messagebird_429_with_retry_after(self):
        error = self.throttled(FakeMessageBird(retry_after=3))
        self.assertEqual(error.retry_after, 3.0)
        self.assertIn("HTTP 429", str(error))

    def test_vonage_status_1_throttled(self):
        error = self.throttled(FakeVonage())
        self.assertEqual((error.code, error.retry_after), ("1", None))

    def test_sns_throttling_with_retry_after(self):
        error = self.throttled(FakeSns(retry_after=4))
        self.assertEqual((error.code, error.retry_after), ("Throttling", 4.0))

    def test_a_fake_over_its_rate_limit_answers_429(self):
        with FakeTwilio(rate_limit=2) as fake:
            backend = _backend(fake)
            with backend:
                sms.send_sms("1", "+12065550100", [A], connection=backend)
                sms.send_sms("2", "+12065550100", [A], connection=backend)
                with self.assertRaises(ProviderThrottled):
                    sms.send_sms("3", "+12065550100", [A], connection=backend)
            self.assertEqual((fake.throttled, len(fake.messages)), (1, 2))

    def test_retry_after_is_read_as_seconds_or_a_date(self):
        self.assertEqual(seconds_to_wait("3"), 3.0)
        self.assertEqual(seconds_to_wait(" 1.5 "), 1.5)
        self.assertEqual(seconds_to_wait("-2"), 0.0)
        later = seconds_to_wait(formatdate(time.time() + 60, usegmt=True))
        self.assertTrue(50 < later <= 60, later)
        self.assertIsNone(seconds_to_wait("soon"))
        self.assertIsNone(seconds_to_wait(None))


class DrainThrottlingTests(TestCase):
    """Drain through the real Twilio backend to a fake Twilio that throttles."""

    def start(self, **options):
        self.fake = FakeTwilio(**options).start()
        self.addCleanup(self.fake.stop)
        FakeTwilioBackend.fake_url = self.fake.url
        self.addCleanup(setattr, FakeTwilioBackend, "fake_url", None)
        settings = override_settings(
            SMS_OUTBOX_BACKEND="tests.support.outbox_backends.FakeTwilioBackend",
            TWILIO_ACCOUNT_SID=self.fake.account_sid,
            TWILIO_AUTH_TOKEN=self.fake.auth_token,
            SMS_OUTBOX_MAX_IN_FLIGHT=8,
        )
        settings.enable()
        self.addCleanup(settings.disable)

    def queue(self, count):
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        sms.send_mass_sms(
            [
                (f"Message {n}", "+12065550101", [f"+4411349600{n:02d}"])
                for n in range(count)
            ],
            connection=queued,
        )

    def assert_each_sent_once_on_one_attempt(self, count):
        bodies = sorted(message["body"] for message in self.fake.messages)
        self.assertEqual(bodies, sorted(f"Message {n}" for n in range(count)))
        self.assertEqual(
            set(Message.objects.values_list("status", "attempts")), {("sent", 1)}
        )
        outcomes = list(Attempt.objects.values_list("outcome", flat=True))
        self.assertEqual(outcomes, ["sent"] * count)

    def test_a_429_puts_the_row_back_without_using_an_attempt(self):
        self.start(retry_after=0)
        self.queue(3)
        self.fake.script(self.fake.throttle_reply())
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying, result.throttled), (3, 0, 1))
        self.assertEqual(len(self.fake.requests), 4)
        self.assert_each_sent_once_on_one_attempt(3)
        self.assertIn("throttled 1", str(result))

    def test_a_rate_limited_account_gets_everything_once(self):
        """Eight calls in flight against 10 requests/s: 429s, then the pace holds."""
        self.start(rate_limit=10, retry_after=1)
        self.queue(25)
        result = engine.send_queued()
        self.assertEqual(result.sent, 25)
        self.assertGreater(self.fake.throttled, 0)
        self.assertEqual(result.throttled, self.fake.throttled)
        self.assert_each_sent_once_on_one_attempt(25)

    def test_a_row_throttled_too_often_goes_back_to_the_queue(self):
        self.start(retry_after=0)
        self.queue(1)
        self.fake.script(self.fake.throttle_reply())
        with mock.patch.object(engine, "MAX_THROTTLES_PER_ROW", 1):
            result = engine.send_queued()
        self.assertEqual((result.sent, result.throttled), (0, 1))
        row = Message.objects.get()
        self.assertEqual((row.status, row.attempts, row.claimed_by), ("queued", 0, ""))
        self.assertFalse(Attempt.objects.exists())


class PacerTests(TestCase):
    def test_retry_after_pauses_every_call_of_the_drain(self):
        pacer = rate.Pacer(PATH, None, 8)
        before = time.time()
        pacer.throttled(5, time.monotonic())
        self.assertGreaterEqual(pacer.resume_at, before + 5)
        self.assertGreaterEqual(pacer.account_slot(1), pacer.resume_at)

    @override_settings(SMS_OUTBOX_RATE=100)
    def test_with_a_shared_rate_every_drain_of_the_site_waits(self):
        throttled, other = rate.Pacer(PATH, None, 8), rate.Pacer(PATH, None, 8)
        throttled.throttled(5, time.monotonic())
        self.assertGreaterEqual(other.account_slot(1), throttled.resume_at)
        # The shared figure drops for the drain that was told.
        self.assertLess(throttled.rate(), 100)

    def test_without_retry_after_the_pause_doubles_while_429s_keep_coming(self):
        pacer = rate.Pacer(PATH, None, 8)
        pauses = []
        for _ in range(3):
            before = time.time()
            pacer.throttled(None, time.monotonic())
            pauses.append(pacer.resume_at - before)
        for pause, expected in zip(pauses, [0.25, 0.5, 1.0], strict=True):
            self.assertAlmostEqual(pause, expected, delta=0.05)

    def test_answers_to_calls_started_before_the_slow_down_lower_it_once(self):
        pacer = rate.Pacer(PATH, None, 8)
        started = time.monotonic()
        for _ in range(50):
            pacer.sent(1)
        pacer.throttled(None, started + 1)
        lowered = pacer.rate()
        pacer.throttled(None, started)  # a call that left before the first 429
        self.assertEqual(pacer.rate(), lowered)
        self.assertEqual(pacer.throttled_count, 2)

    def test_the_rate_climbs_back_after_quiet_seconds(self):
        pacer = rate.Pacer(PATH, None, 8)
        clock = [1000.0]
        with mock.patch("time.monotonic", lambda: clock[0]):
            pacer._started = clock[0] - 10
            for _ in range(100):
                pacer.sent(1)
            pacer.throttled(None, clock[0])
            low = pacer.rate()
            for _ in range(3):
                clock[0] += 1.5
                pacer.sent(1)
        self.assertIsNotNone(low)
        self.assertTrue(pacer.rate() is None or pacer.rate() > low)
