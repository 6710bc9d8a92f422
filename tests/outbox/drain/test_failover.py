"""Routes and failover between two Twilio accounts, fake Twilios over real HTTP."""

import datetime
import io
import json
import threading
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

import sms
from sms.testing import FakeMessageBird, FakeTwilio, Reply
from sms.testing.server import closed_port_url
from sms_outbox.drain import breaker
from sms_outbox.drain import run as engine
from sms_outbox.models import Attempt, InboundMessage, Message, ProviderCircuit
from tests.support.inbound import twilio_inbound_fields
from tests.support.receipts import twilio_signature

GB = "+441134960000"
US = "+12025550123"
FORM = "application/x-www-form-urlencoded"
CALLBACK = "http://testserver/sms/receipts/twilio/{}/"


def numbers(count):
    return [f"+4411349601{n:02d}" for n in range(count)]


def alias(fake, name, url=None):
    return {
        "BACKEND": "sms.backends.twilio.SmsBackend",
        "OPTIONS": {
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "api_url": url or fake.url,
            "status_callback": CALLBACK.format(name),
            "timeout": 5,
        },
    }


class TwoProvidersMixin:
    """Two Twilio accounts, ``primary`` and ``secondary``, and one route over both."""

    route = {"PROVIDERS": ["primary", "secondary"]}

    def setUp(self):
        self.primary = FakeTwilio(account_sid="AC" + "1" * 32, auth_token="tok-1")
        self.secondary = FakeTwilio(account_sid="AC" + "2" * 32, auth_token="tok-2")
        for fake in (self.primary, self.secondary):
            fake.start()
            self.addCleanup(fake.stop)
        self.configure()

    def configure(self, primary_url=None, routes=None):
        settings = override_settings(
            SMS_PROVIDERS={
                "primary": alias(self.primary, "primary", primary_url),
                "secondary": alias(self.secondary, "secondary"),
            },
            SMS_ROUTES=routes or {"default": self.route},
            SMS_OUTBOX_BACKEND="primary",
            SMS_OUTBOX_RETRY_DELAY=0,
            SMS_OUTBOX_MAX_ATTEMPTS=5,
            SMS_OUTBOX_BREAKER_FAILURES=3,
            SMS_OUTBOX_BREAKER_COOLDOWN=600,
            # One call at a time, on the drain's own thread: inside a test's
            # transaction another thread cannot write the breaker's table.
            SMS_OUTBOX_MAX_IN_FLIGHT=1,
        )
        settings.enable()
        self.addCleanup(settings.disable)

    def queue(self, recipients, kind=""):
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        message = sms.Message("Hello", "+12065550101", recipients, connection=queued)
        message.kind = kind
        message.send()

    def sent_through(self, fake):
        return sorted(m["to"] for m in fake.messages)

    def log(self, row):
        return list(row.attempts_log.order_by("pk").values_list("provider", "outcome"))


class FailoverTests(TwoProvidersMixin, TestCase):
    def test_the_primary_is_down_every_sms_goes_once_through_the_secondary(self):
        self.configure(primary_url=closed_port_url())
        recipients = numbers(8)
        self.queue(recipients)
        with self.assertLogs("sms_outbox.drain.breaker", "WARNING"):
            result = engine.send_queued()
        self.assertEqual((result.sent, result.retrying, result.failed), (8, 0, 0))
        self.assertEqual(self.sent_through(self.secondary), sorted(recipients))
        rows = list(Message.objects.order_by("pk"))
        self.assertEqual(
            {(r.status, r.provider, r.attempts) for r in rows},
            {("sent", "secondary", 1)},
        )
        self.assertEqual({r.route for r in rows}, {"default"})
        # The first three tried the primary (logged, no attempt used); then
        # its circuit opened and the others went straight to the secondary.
        self.assertEqual(
            self.log(rows[0]), [("primary", "retry"), ("secondary", "sent")]
        )
        self.assertEqual(self.log(rows[-1]), [("secondary", "sent")])
        [state] = [s for s in breaker.states() if s["alias"] == "primary"]
        self.assertEqual(state["state"], "open")

    def test_a_503_a_429_and_a_suspended_account_fail_over(self):
        self.primary.script(
            self.primary.error(503, 20503, "Service unavailable"),
            self.primary.error(429, 20429, "Too Many Requests"),
            self.primary.error(401, 20003, "Authenticate"),
        )
        self.queue(numbers(4))
        with self.assertLogs("sms_outbox", "WARNING"):
            result = engine.send_queued()
        self.assertIsNone(result.error)
        self.assertEqual((result.sent, result.retrying), (4, 0))
        self.assertEqual(len(self.secondary.messages), 4)
        self.assertEqual(self.primary.messages, [])
        # Three calls reached the primary; the fourth row skipped it.
        self.assertEqual(len(self.primary.requests), 3)
        self.assertEqual(
            list(
                Attempt.objects.filter(provider="primary")
                .values_list("error_code", flat=True)
                .order_by("pk")
            ),
            ["20503", "20429", "20003"],
        )
        # The account error opened the primary's circuit at once.
        self.assertTrue(
            ProviderCircuit.objects.get(alias="primary").opened_until > timezone.now()
        )

    def test_a_400_invalid_number_does_not_fail_over(self):
        self.primary.script(
            self.primary.error(400, 21211, "The 'To' number is not a valid number.")
        )
        self.queue([GB])
        result = engine.send_queued()
        self.assertEqual(result.failed, 1)
        self.assertEqual(self.secondary.requests, [])
        row = Message.objects.get()
        self.assertEqual((row.status, row.provider), ("failed", "primary"))
        self.assertEqual(self.log(row), [("primary", "failed")])

    def test_an_ambiguous_timeout_does_not_fail_over(self):
        self.primary.script(Reply(drop=True))
        self.queue([GB])
        result = engine.send_queued()
        self.assertEqual(result.retrying, 1)
        self.assertEqual(self.secondary.requests, [])
        row = Message.objects.get()
        self.assertEqual((row.status, row.attempts), ("queued", 1))
        self.assertEqual(self.log(row), [("primary", "unknown")])

    def test_an_ambiguous_timeout_fails_over_where_the_route_opts_in(self):
        self.configure(routes={"default": {**self.route, "FAILOVER_UNKNOWN": True}})
        self.primary.script(Reply(drop=True))
        self.queue([GB])
        result = engine.send_queued()
        self.assertEqual(result.sent, 1)
        self.assertEqual(self.sent_through(self.secondary), [GB])
        row = Message.objects.get()
        # The possible duplicate is on record: the primary may have it too.
        self.assertEqual(self.log(row), [("primary", "unknown"), ("secondary", "sent")])

    def test_the_primary_comes_back_after_the_cooldown(self):
        breaker.record_failure("primary", "down", account=True)
        self.queue([GB])
        engine.send_queued()
        # Open: skipped by every worker, without a request.
        self.assertEqual(self.primary.requests, [])
        self.assertEqual(self.sent_through(self.secondary), [GB])
        # The cooldown ends (the database's clock passes opened_until).
        ProviderCircuit.objects.update(
            opened_until=timezone.now() - datetime.timedelta(seconds=1)
        )
        self.assertEqual(breaker.states()[0]["state"], "half-open")
        self.queue([US, "+12025550124"])
        with self.assertLogs("sms_outbox.drain.breaker", "INFO") as logs:
            engine.send_queued()
        self.assertEqual(self.sent_through(self.primary), [US, "+12025550124"])
        self.assertEqual(breaker.states()[0]["state"], "closed")
        self.assertIn("Probing SMS provider 'primary'", logs.output[0])

    def test_a_half_open_probe_is_taken_by_one_worker_only(self):
        breaker.record_failure("primary", "down", account=True)
        ProviderCircuit.objects.update(
            opened_until=timezone.now() - datetime.timedelta(seconds=1)
        )
        with self.assertLogs("sms_outbox.drain.breaker", "INFO"):
            first = breaker.look(["primary", "secondary"])
        second = breaker.look(["primary", "secondary"])
        self.assertNotIn("primary", first.skip)
        self.assertIn("primary", second.skip)


class RouteTests(TwoProvidersMixin, TestCase):
    routes = {
        "uk": {"COUNTRIES": ["GB"], "PROVIDERS": ["primary", "secondary"]},
        "otp": {"KINDS": ["otp"], "PREFIXES": ["+1"], "PROVIDERS": ["primary"]},
        "default": {"PROVIDERS": ["secondary", "primary"]},
    }

    def test_gb_numbers_go_through_one_alias_and_us_numbers_another(self):
        self.configure(routes=self.routes)
        self.queue([GB, US])
        engine.send_queued()
        self.assertEqual(self.sent_through(self.primary), [GB])
        self.assertEqual(self.sent_through(self.secondary), [US])
        self.assertEqual(
            dict(Message.objects.values_list("recipient", "route")),
            {GB: "uk", US: "default"},
        )

    def test_kind_and_prefix(self):
        self.configure(routes=self.routes)
        self.queue([US], kind="otp")
        engine.send_queued()
        self.assertEqual(Message.objects.get().route, "otp")
        self.assertEqual(self.sent_through(self.primary), [US])

    def test_a_sender_per_country(self):
        routes = {
            "default": {
                "PROVIDERS": ["primary"],
                "SENDERS": {"GB": "ACME", "US": "+12065550199"},
            }
        }
        self.configure(routes=routes)
        with self.settings(DEFAULT_FROM_SMS="+12065550101"):
            self.queue([GB, US])
            engine.send_queued()
        self.assertEqual(
            {m["to"]: m["from"] for m in self.primary.messages},
            {GB: "ACME", US: "+12065550199"},
        )

    def test_each_alias_sends_from_its_own_sender_after_a_failover(self):
        providers = {
            "primary": {
                **alias(self.primary, "primary"),
                "SENDERS": {"GB": "ONE"},
            },
            "secondary": {
                **alias(self.secondary, "secondary"),
                "SENDERS": {"GB": "TWO"},
            },
        }
        self.primary.script(self.primary.error(503, 20503, "Service unavailable"))
        with self.settings(SMS_PROVIDERS=providers, DEFAULT_FROM_SMS="+12065550101"):
            self.queue([GB])
            engine.send_queued()
        self.assertEqual(self.primary.requests[0].form.get("From"), "ONE")
        self.assertEqual([m["from"] for m in self.secondary.messages], ["TWO"])

    def test_without_routes_the_outbox_backend_alias_sends(self):
        with self.settings(SMS_ROUTES={}):
            self.queue([GB])
            engine.send_queued()
        row = Message.objects.get()
        self.assertEqual((row.route, row.provider), ("", "primary"))
        self.assertEqual(row.backend, "sms.backends.twilio.SmsBackend")
        self.assertEqual(self.sent_through(self.primary), [GB])


def post_report(client, report):
    parts = urlsplit(report.url)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return client.post(
        path,
        urlencode(report.params),
        FORM,
        HTTP_X_TWILIO_SIGNATURE=report.headers["X-Twilio-Signature"],
    )


class TwoAccountReceiptTests(TwoProvidersMixin, TestCase):
    def test_the_receipts_of_two_twilio_accounts_reach_the_right_rows(self):
        self.configure(
            routes={
                "uk": {"COUNTRIES": ["GB"], "PROVIDERS": ["primary"]},
                "default": {"PROVIDERS": ["secondary"]},
            }
        )
        self.queue([GB, US])
        engine.send_queued()
        first = self.primary.status_reports("delivered")
        second = self.secondary.status_reports("undelivered")
        self.assertTrue(first[0].url.startswith(CALLBACK.format("primary")))
        for report in first + second:
            self.assertEqual(post_report(self.client, report).status_code, 200)
        self.assertEqual(
            dict(Message.objects.values_list("recipient", "delivery_status")),
            {GB: "delivered", US: "undelivered"},
        )

    def test_one_accounts_receipt_is_refused_at_the_others_url(self):
        self.configure(routes={"default": {"PROVIDERS": ["primary"]}})
        self.queue([GB])
        engine.send_queued()
        [report] = self.primary.status_reports("delivered")
        report.url = report.url.replace("/primary/", "/secondary/")
        with self.assertLogs("sms_outbox.webhooks.twilio", "WARNING"):
            self.assertEqual(post_report(self.client, report).status_code, 403)
        self.assertEqual(Message.objects.get().delivery_status, "")

    def test_inbound_sms_to_each_account_is_checked_with_its_own_token(self):
        fields = twilio_inbound_fields("SM" + "1" * 32, "Hello")
        url = "http://testserver/sms/inbound/twilio/secondary/"
        for token, status in (("tok-2", 200), ("tok-1", 403)):
            with self.subTest(token=token):
                response = self.client.post(
                    urlsplit(url).path,
                    urlencode(fields),
                    FORM,
                    HTTP_X_TWILIO_SIGNATURE=twilio_signature(url, fields, token),
                )
                self.assertEqual(response.status_code, status)
        self.assertEqual(InboundMessage.objects.count(), 1)

    def test_an_unknown_alias_is_a_404(self):
        response = self.client.post(
            "/sms/receipts/twilio/nobody/",
            {},
        )
        self.assertEqual(response.status_code, 404)


class ChaosTests(TwoProvidersMixin, TestCase):
    def test_the_primary_dies_in_the_middle_of_a_drain(self):
        recipients = numbers(30)
        self.queue(recipients)
        requests = []

        def kill_on_the_tenth(request):
            requests.append(request)
            if len(requests) == 10:
                # The process dies with this request in flight: no answer,
                # and nothing listens any more.
                threading.Thread(target=self.primary.stop).start()
                return Reply(drop=True)
            return None

        self.primary.script(*[kill_on_the_tenth] * 10)
        with self.assertLogs("sms_outbox", "WARNING"):
            first = engine.send_queued()
            second = engine.send_queued()
        self.assertEqual(first.sent + second.sent, 30)
        self.assertEqual(second.retrying + second.failed, 0)
        # Nothing lost: every row sent, once, by one provider or the other.
        delivered = self.sent_through(self.primary) + self.sent_through(self.secondary)
        self.assertEqual(sorted(delivered), sorted(recipients))
        self.assertEqual(
            set(Message.objects.values_list("status", flat=True)), {"sent"}
        )
        # An SMS the primary may also have (a request it got and never
        # answered, or one sent on a connection the kill broke) is a row with
        # an "unknown" attempt through the primary: explained, not silent.
        unknown = Attempt.objects.filter(outcome="unknown")
        self.assertGreaterEqual(unknown.count(), 1)
        self.assertEqual(set(unknown.values_list("provider", flat=True)), {"primary"})
        unanswered = {r.form.get("To") for r in requests} - set(
            self.sent_through(self.primary)
        )
        self.assertEqual(len(unanswered), 1)
        self.assertLessEqual(
            unanswered, set(unknown.values_list("message__recipient", flat=True))
        )


class BreakerReportTests(TwoProvidersMixin, TestCase):
    def test_the_status_command_and_the_health_page_show_each_circuit(self):
        with self.assertLogs("sms_outbox.drain.breaker", "WARNING"):
            breaker.record_failure("primary", "HTTP 401", account=True)
        breaker.record_failure("secondary", "HTTP 503")
        out = io.StringIO()
        call_command("sms_outbox_status", stdout=out)
        text = out.getvalue()
        self.assertIn("provider primary: circuit open, 3 failure(s) in a row", text)
        self.assertIn("provider secondary: circuit closed, 1 failure(s) in a row", text)
        out = io.StringIO()
        call_command("sms_outbox_status", "--json", stdout=out)
        providers = json.loads(out.getvalue())["providers"]
        self.assertEqual(
            [(p["alias"], p["state"]) for p in providers],
            [("primary", "open"), ("secondary", "closed")],
        )
        admin = User.objects.create_superuser("admin", "a@example.com", "pw")
        self.client.force_login(admin)
        page = self.client.get(reverse("admin:sms_outbox_message_health"))
        self.assertContains(page, '<tr class="health-provider-open"><td>primary</td>')
        self.assertContains(page, '<tr class="health-provider-closed"><td>secondary')


class GroupedCallTests(TestCase):
    """MessageBird takes 50 numbers per call: rows of one call may differ in route."""

    def test_rows_of_one_call_go_along_their_own_routes_once(self):
        first = self.enterContext(FakeMessageBird(access_key="test_one"))
        second = self.enterContext(FakeMessageBird(access_key="test_two"))

        def messagebird(fake):
            return {
                "BACKEND": "sms.backends.messagebird.SmsBackend",
                "OPTIONS": {"access_key": fake.access_key, "api_url": fake.url},
            }

        with self.settings(
            SMS_PROVIDERS={"one": messagebird(first), "two": messagebird(second)},
            SMS_ROUTES={"uk": {"COUNTRIES": ["GB"], "PROVIDERS": ["two", "one"]}},
            SMS_OUTBOX_BACKEND="one",
            SMS_OUTBOX_MAX_IN_FLIGHT=1,
        ):
            second.script(Reply(503, {"errors": [{"code": 0}]}))
            queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
            sms.send_sms("Hi", "+12065550101", [GB, US, "+441134960001"], False, queued)
            result = engine.send_queued()
        self.assertEqual(result.sent, 3)
        # The two UK rows failed over from "two" to "one"; the US row went
        # through SMS_OUTBOX_BACKEND. Every number once.
        sent = sorted(n for call in first.messages for n in call["recipients"])
        self.assertEqual(sent, sorted([GB, US, "+441134960001"]))
        self.assertEqual(len(first.messages), 2)  # the US row's call, the UK rows'
        self.assertEqual(len(second.requests), 1)
        self.assertEqual(second.messages, [])
        self.assertEqual(
            dict(Message.objects.values_list("recipient", "provider")),
            {GB: "one", US: "one", "+441134960001": "one"},
        )
