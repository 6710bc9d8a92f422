"""Tests for the retry policy: what a try does to its row."""

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from sms.exceptions import (
    InvalidPhoneNumber,
    MessageTooLong,
    OutcomeUnknown,
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsSendError,
)
from sms_outbox.drain.policy import classify, decide, retry_delay, stops_drain


class ClassifyTests(SimpleTestCase):
    def test_each_error_gets_its_kind(self):
        cases = [
            (None, "sent"),
            (RecipientRejected("bad number"), "failed"),
            (InvalidPhoneNumber("bad"), "failed"),
            (MessageTooLong("long"), "failed"),
            (ProviderUnavailable("503"), "retry"),
            (SmsSendError("flagged", retryable=True), "retry"),
            (SmsSendError("not flagged"), "failed"),
            (OutcomeUnknown("read timeout"), "unknown"),
            (KeyError("a backend bug"), "unknown"),
        ]
        for error, kind in cases:
            with self.subTest(error=error):
                self.assertEqual(classify(error), kind)

    def test_account_and_configuration_errors_stop_the_drain(self):
        self.assertTrue(stops_drain(ProviderAccountError("401")))
        self.assertTrue(stops_drain(ImproperlyConfigured("no key")))
        self.assertFalse(stops_drain(RecipientRejected("bad number")))
        self.assertFalse(stops_drain(ProviderUnavailable("503")))


@override_settings(
    SMS_OUTBOX_MAX_ATTEMPTS=3,
    SMS_OUTBOX_RETRY_DELAY=10,
    SMS_OUTBOX_RETRY_MAX_DELAY=100,
)
class DecideTests(SimpleTestCase):
    def test_sent_is_final_and_not_a_failure(self):
        decision = decide("sent", 2)
        self.assertEqual((decision.status, decision.logged), ("sent", "sent"))
        self.assertTrue(decision.final)
        self.assertFalse(decision.gave_up)
        self.assertIsNone(decision.delay)

    def test_a_failure_is_final_on_the_first_attempt(self):
        decision = decide("failed", 0)
        self.assertEqual((decision.status, decision.logged), ("failed", "failed"))
        self.assertTrue(decision.gave_up)

    def test_a_retry_is_queued_with_a_delay_until_the_last_attempt(self):
        for attempts in (0, 1):
            decision = decide("retry", attempts)
            self.assertEqual(decision.status, "queued")
            self.assertEqual(decision.logged, "retry")
            self.assertFalse(decision.final)
            self.assertGreater(decision.delay, 0)
        last = decide("retry", 2)
        self.assertEqual((last.status, last.logged), ("failed", "failed"))
        self.assertIsNone(last.delay)

    def test_an_unknown_outcome_stays_unknown_in_the_log_when_it_gives_up(self):
        self.assertEqual(decide("unknown", 0).status, "queued")
        last = decide("unknown", 2)
        self.assertEqual((last.status, last.logged), ("failed", "unknown"))

    def test_the_delay_doubles_from_the_base_and_is_capped_with_jitter(self):
        for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
            with self.subTest(attempts=attempts):
                delays = [retry_delay(attempts) for _ in range(50)]
                self.assertTrue(all(full / 2 <= d <= full for d in delays))
                self.assertGreater(len(set(delays)), 1)
