"""Calls in flight: one drain keeps several provider calls going, fed from claims."""

import collections
import signal
import threading
import time
from unittest import mock

import pytest
from django.test import TestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import SmsConfigurationError
from sms.message import RecipientResult
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, Message


def queue(count):
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    sms.send_mass_sms(
        [(f"Message {n}", "Acme", [f"+441134960{n:03d}"]) for n in range(count)],
        connection=queued,
    )


class GatedBackend(BaseSmsBackend):
    """Hold every call until ``gate`` calls are in flight together (a barrier).

    A drain that keeps fewer calls in flight breaks the barrier (after its
    timeout) and the call fails, so the tests see it. Each call then takes
    a few milliseconds, as a provider's would: calls that all came back
    within microseconds of the barrier opening would look like an
    in-process backend's, which the drain runs one at a time on its own
    thread, and the barrier would never fill again.
    """

    gate = None
    lock = threading.Lock()
    flying = 0
    most = 0
    sent = []
    threads = set()

    @classmethod
    def reset(cls, parties):
        cls.gate = threading.Barrier(parties, timeout=20) if parties else None
        cls.flying = cls.most = 0
        cls.sent = []
        cls.threads = set()

    def send_messages(self, messages):
        cls = GatedBackend
        with cls.lock:
            cls.flying += 1
            cls.most = max(cls.most, cls.flying)
            cls.threads.add(threading.get_ident())
        try:
            if cls.gate is not None:
                try:
                    cls.gate.wait()
                except threading.BrokenBarrierError:
                    cls.gate = None  # the rest of the run goes on ungated
                    raise RuntimeError("fewer calls in flight than expected") from None
            time.sleep(0.003)
            for message in messages:
                message.results = [
                    RecipientResult(message.recipients[0], message_id="SM1")
                ]
                cls.sent.append(message.body)
        finally:
            with cls.lock:
                cls.flying -= 1
        return len(messages)


@override_settings(SMS_OUTBOX_BACKEND="tests.outbox.test_in_flight.GatedBackend")
class InFlightTests(TestCase):
    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=4)
    def test_keeps_max_in_flight_calls_going_and_no_more(self):
        queue(12)
        GatedBackend.reset(4)
        result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying), (12, 0))
        self.assertEqual(GatedBackend.most, 4)
        self.assertEqual(len(GatedBackend.threads), 4)
        self.assertEqual(
            sorted(GatedBackend.sent), sorted(f"Message {n}" for n in range(12))
        )

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=6)
    def test_a_few_rows_due_fill_every_call_from_one_claim(self):
        """Six rows, six calls at once: the calls share the claim, none starves."""
        queue(6)
        GatedBackend.reset(6)
        result = engine.send_queued()
        self.assertEqual(result.sent, 6)
        self.assertEqual(GatedBackend.most, 6)
        self.assertEqual(Message.objects.filter(status="sent").count(), 6)
        self.assertEqual(Attempt.objects.filter(outcome="sent").count(), 6)

    def test_the_argument_beats_the_setting(self):
        queue(3)
        GatedBackend.reset(3)
        with override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1):
            result = engine.send_queued(concurrency=3)
        self.assertEqual((result.sent, GatedBackend.most), (3, 3))

    def test_one_call_in_flight_runs_on_the_drains_thread(self):
        queue(3)
        GatedBackend.reset(0)
        with override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1):
            self.assertEqual(engine.send_queued().sent, 3)
        self.assertEqual(GatedBackend.threads, {threading.get_ident()})

    def test_an_invalid_max_in_flight_is_a_configuration_error(self):
        for value in (0, -1, 2.5, "8", True):
            with (
                self.subTest(value=value),
                override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=value),
                self.assertRaisesMessage(
                    SmsConfigurationError, "SMS_OUTBOX_MAX_IN_FLIGHT is"
                ),
            ):
                engine.send_queued()


class Clock:
    """A ``time.monotonic`` the provider calls move forward."""

    def __init__(self):
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.now

    def advance(self, seconds):
        with self.lock:
            self.now += seconds


class SlowBackend(BaseSmsBackend):
    """Each call moves the simulated clock by ``takes`` seconds."""

    clock = None
    takes = 0.0
    sent = []

    def send_messages(self, messages):
        SlowBackend.clock.advance(SlowBackend.takes)
        for message in messages:
            message.results = [RecipientResult(message.recipients[0], message_id="SM")]
            SlowBackend.sent.append(message.body)
        return len(messages)


@override_settings(
    SMS_OUTBOX_BACKEND="tests.outbox.test_in_flight.SlowBackend",
    SMS_OUTBOX_LEASE_SECONDS=60,
    SMS_TIMEOUT=10,
    SMS_OUTBOX_MAX_IN_FLIGHT=4,
)
class LeaseInFlightTests(TestCase):
    def test_no_call_starts_without_a_call_and_a_margin_of_lease_left(self):
        """Calls that eat the lease: each call still starts with > timeout + 1 s."""
        queue(16)
        clock = SlowBackend.clock = Clock()
        SlowBackend.takes, SlowBackend.sent = 7.0, []
        starts = []
        submit = engine._Callers.submit

        def checked_submit(callers, job):
            starts.append(job.held.claim.time_left())
            return submit(callers, job)

        renewed = []
        renew = engine.Claim.renew

        def counted_renew(claim, rows):
            renewed.append(len(rows))
            return renew(claim, rows)

        with (
            mock.patch("time.monotonic", clock),
            mock.patch.object(engine._Callers, "submit", checked_submit),
            mock.patch.object(engine.Claim, "renew", counted_renew),
        ):
            result = engine.send_queued()
            # A row whose claim had too little lease left for a call was
            # given back, unsent: a later run sends it (threads sharing the
            # simulated clock decide how many that is).
            result.sent += engine.send_queued().sent
        self.assertEqual(result.sent, 16)
        self.assertEqual(
            sorted(SlowBackend.sent), sorted(f"Message {n}" for n in range(16))
        )
        guard = 10 + engine.LEASE_MARGIN
        self.assertEqual(len(starts), 16)
        self.assertTrue(all(left > guard for left in starts), starts)
        self.assertTrue(renewed)  # the lease was renewed on the way


@override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
class StopTests(TestCase):
    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=8)
    def test_stop_lands_the_calls_in_flight_and_gives_back_the_rest(self):
        queue(200)
        stop = threading.Event()
        seen = []

        def progress(result):
            seen.append(result.sent)
            stop.set()

        result = engine.send_queued(batch_size=20, stop=stop, progress=progress)
        statuses = set(Message.objects.values_list("status", flat=True))
        self.assertLessEqual(statuses, {"sent", "queued"})
        self.assertEqual(Message.objects.filter(status="sent").count(), result.sent)
        # What went out is what is recorded sent; nothing given back went out.
        delivered = {message.reference for message in sms.outbox}
        sent = set(
            Message.objects.filter(status="sent").values_list("reference", flat=True)
        )
        queued = set(
            Message.objects.filter(status="queued").values_list("reference", flat=True)
        )
        self.assertEqual(delivered & (sent | queued), sent)
        self.assertGreater(result.sent, 0)
        self.assertLess(result.sent, 200)
        self.assertFalse(Message.objects.filter(claimed_by__gt="").exists())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_flight_loses_nothing_and_explains_each_duplicate(shared):
    """Killed with eight calls in flight: every row ends sent, once or explained.

    The rows whose results were not written when the drain died (calls in
    flight, results not yet flushed) are ``sending`` under its dead claims.
    Their leases run out, another drain takes them back with an ``unknown``
    attempt each, and sends them: only those rows may have gone out twice.
    """
    shared.seed(600)
    env = {
        "OUTBOX_LEASE_SECONDS": "2",
        "OUTBOX_TIMEOUT": "0.5",
        "OUTBOX_MAX_IN_FLIGHT": "8",
        "OUTBOX_DELAY": "0.02",
    }
    drain = shared.drain(**env)
    shared.wait_for(lambda: len(shared.deliveries()) >= 150, drain)
    drain.send_signal(signal.SIGKILL)
    drain.wait()
    before = shared.report()
    held = {
        reference
        for reference, (_, status, _, _) in before["rows"].items()
        if status == "sending"
    }
    assert held  # the killed drain held rows, some of them in flight
    time.sleep(2.1)  # its leases run out
    again = shared.drain(**env)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    report = shared.report()
    assert report["status"] == {"sent": 600}
    delivered = collections.Counter(shared.deliveries())
    assert set(delivered) == set(report["references"])
    duplicates = {reference for reference, count in delivered.items() if count > 1}
    assert duplicates <= held
    assert set(report["unknown"]) == held
    assert report["outcomes"]["unknown"] == len(held)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_hung_call_does_not_hold_back_the_results_beside_it(shared):
    """One call hangs past its lease: the calls beside it are recorded in time.

    Their results are written within a second, so when the hung call's lease
    runs out and another drain takes its row back, nothing else goes twice.
    """
    shared.seed(20)
    lease = {"OUTBOX_LEASE_SECONDS": "3", "OUTBOX_TIMEOUT": "0.5"}
    first = shared.drain(
        OUTBOX_DELAY="0.05",
        OUTBOX_STALL_ON="Message 3",
        OUTBOX_STALL="hang",
        OUTBOX_MAX_IN_FLIGHT="8",
        **lease,
    )
    shared.wait_for(shared.stalled.exists, first)
    time.sleep(3.5)  # the hung call's lease runs out
    second = shared.drain(**lease)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    shared.release.touch()  # the hung call answers 503
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    report = shared.report()
    assert report["status"] == {"sent": 20}
    delivered = collections.Counter(shared.deliveries())
    assert sorted(delivered) == sorted(report["references"])
    assert set(delivered.values()) == {1}, delivered.most_common(3)
    rows = {body: reference for reference, (body, *_) in report["rows"].items()}
    assert report["unknown"] == [rows["Message 3"]]


class TimedBackend(BaseSmsBackend):
    """Records the thread of each call; each call takes ``takes`` seconds."""

    takes = 0.0
    lock = threading.Lock()
    calls = []  # (thread id, body)

    def send_messages(self, messages):
        if TimedBackend.takes:
            time.sleep(TimedBackend.takes)
        for message in messages:
            message.results = [RecipientResult(message.recipients[0], message_id="SM")]
            with TimedBackend.lock:
                TimedBackend.calls.append((threading.get_ident(), message.body))
        return len(messages)


@override_settings(
    SMS_OUTBOX_BACKEND="tests.outbox.test_in_flight.TimedBackend",
    SMS_OUTBOX_MAX_IN_FLIGHT=8,
)
class QuickCallsTests(TestCase):
    """Calls that come back at once run on the drain's thread; slow ones do not."""

    def setUp(self):
        TimedBackend.calls = []
        TimedBackend.takes = 0.0

    def drained_on_own_thread(self, count):
        queue(count)
        result = engine.send_queued()
        self.assertEqual(result.sent, count)
        bodies = [body for _, body in TimedBackend.calls]
        self.assertEqual(sorted(bodies), sorted(f"Message {n}" for n in range(count)))
        own = threading.get_ident()
        return sum(1 for thread, _ in TimedBackend.calls if thread == own)

    def test_a_quick_backend_is_called_on_the_drains_thread(self):
        # The first calls are timed on caller threads (at most 8 + 7 before
        # eight are back); once quick, every call runs where the drain is.
        # The bar is raised to a second, so that a loaded machine, where a
        # thread's microsecond call can wait for the interpreter lock, does
        # not make this backend look slow.
        with mock.patch.object(engine, "_QUICK_CALL", 1.0):
            on_own = self.drained_on_own_thread(60)
        self.assertGreaterEqual(on_own, 60 - 15)
        self.assertEqual(Message.objects.filter(status="sent").count(), 60)
        self.assertEqual(Attempt.objects.filter(outcome="sent").count(), 60)

    def test_a_backend_that_takes_milliseconds_stays_on_the_caller_threads(self):
        TimedBackend.takes = 0.005
        self.assertEqual(self.drained_on_own_thread(24), 0)

    def test_a_slow_call_sends_the_next_ones_back_to_the_threads(self):
        callers = engine._Callers("tests.outbox.test_in_flight.TimedBackend", None, 8)
        for _ in range(engine._TIMED_CALLS):
            callers._time(0.00002)
        self.assertTrue(callers._quick())
        callers._time(0.2)  # one provider round trip
        self.assertFalse(callers._quick())
