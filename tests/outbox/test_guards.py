"""Send guards (sms_outbox.guards): geo permissions, limits, spend caps, blocks."""

from __future__ import annotations

import logging
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.db import connection, transaction
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import sms
import sms_outbox
from sms.exceptions import SendRefused, SmsConfigurationError, SmsError, SmsSendError
from sms_outbox import guards
from sms_outbox.checks import check_guard_countries, check_guard_settings
from sms_outbox.health import get_spend
from sms_outbox.models import GuardCounter, GuardEvent, Message

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
GB = "+447400123456"  # a GB mobile number
GB2 = "+447400123457"
LT = "+37068000001"  # Lithuania
US = "+12015550123"
PRICES = {"GB": "0.04", "LT": "0.50", "*": "0.10"}


def _send(number, body="Code 1234", fail_silently=False, kind="otp"):
    message = sms.Message(body, "Acme", [number], kind=kind)
    message.connection = sms.get_connection(QUEUED, fail_silently=fail_silently)
    return message, message.send(fail_silently=fail_silently)


def _queue(test, number, **kwargs):
    """Send inside the test's transaction and run its commit callbacks."""
    with test.captureOnCommitCallbacks(execute=True):
        return _send(number, **kwargs)


class GeoPermissionTests(TestCase):
    @override_settings(SMS_GUARDS={"countries": {"GB": "allow", "*": "block"}})
    def test_a_blocked_country_raises_before_anything_is_queued(self):
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(SendRefused) as caught:
                _send(US)
        self.assertEqual(caught.exception.rule, "country")
        self.assertIn("SMS_GUARDS['countries']['*']", str(caught.exception))
        self.assertNotIn(US, str(caught.exception))  # masked
        self.assertFalse(Message.objects.filter(status="queued").exists())
        blocked = Message.objects.get()
        self.assertEqual(
            (blocked.status, blocked.blocked_by), (Message.Status.BLOCKED, "country")
        )

    @override_settings(SMS_GUARDS={"countries": {"GB": "allow", "*": "block"}})
    def test_fail_silently_skips_the_refused_recipient_and_queues_the_rest(self):
        message = sms.Message("Hi", "Acme", [US, GB])
        message.connection = sms.get_connection(QUEUED, fail_silently=True)
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(message.send(fail_silently=True), 1)
        self.assertEqual(
            sorted(Message.objects.values_list("recipient", "status")),
            [(US, "blocked"), (GB, "queued")],
        )
        refused = message.results[0]
        self.assertEqual(refused.status, "blocked")
        self.assertIsInstance(refused.error, SendRefused)

    @override_settings(SMS_GUARDS={"countries": {"+1201": "block", "US": "allow"}})
    def test_the_longest_number_prefix_wins_over_the_country(self):
        with self.assertRaises(SendRefused):
            _send(US)
        _send("+15417543010")
        self.assertEqual(Message.objects.count(), 1)

    @override_settings(SMS_GUARDS={"countries": {"*": "monitor"}})
    def test_monitor_sends_and_logs(self):
        with self.assertLogs("sms_outbox.guards", logging.INFO) as logs:
            _send(LT)
        self.assertEqual(Message.objects.get().status, "queued")
        self.assertIn("LT, monitored", logs.output[0])

    @override_settings(
        SMS_GUARDS={"countries": {"*": "block"}, "safe": ["+3706800"]},
    )
    def test_a_safe_number_is_never_blocked(self):
        _send(LT)
        self.assertEqual(Message.objects.get().status, "queued")

    @override_settings(
        SMS_BACKEND="sms.backends.locmem.SmsBackend",
        SMS_GUARDS={"countries": {"GB": "allow", "*": "block"}},
    )
    def test_a_direct_send_raises_and_reaches_no_provider(self):
        sms.outbox = []
        with self.assertRaises(SendRefused):
            sms.send_sms("Hi", "Acme", [US])
        self.assertEqual(sms.outbox, [])
        self.assertEqual(sms.send_sms("Hi", "Acme", [US], fail_silently=True), 0)
        self.assertEqual(sms.send_sms("Hi", "Acme", [GB]), 1)
        self.assertEqual(len(sms.outbox), 1)
        self.assertFalse(Message.objects.exists())  # direct sends store nothing


@override_settings(SMS_GUARDS={"limits": {"prefix": "3/h", "recipient": "2/d"}})
class VelocityLimitTests(TestCase):
    def test_a_prefix_limit_refuses_the_sms_over_it(self):
        for last in range(3):
            _send(f"+44740012345{last}")
        with self.assertRaises(SendRefused) as caught:
            _send("+447400123459")
        self.assertEqual(caught.exception.rule, "limit:prefix")
        self.assertEqual(Message.objects.count(), 3)
        # The refused send was not counted: the counter holds what went.
        self.assertEqual(GuardCounter.objects.get(key__startswith="prefix|").hits, 3)

    def test_a_recipient_limit(self):
        _send(GB)
        _send(GB)
        with self.assertRaises(SendRefused) as caught:
            _send(GB)
        self.assertEqual(caught.exception.rule, "limit:recipient")

    def test_one_call_over_the_limit_stores_nothing_unless_silent(self):
        numbers = [f"+44740012345{last}" for last in range(5)]
        message = sms.Message("Hi", "Acme", numbers)
        message.connection = sms.get_connection(QUEUED)
        with self.assertRaises(SendRefused):
            message.send()
        self.assertEqual(Message.objects.filter(status="queued").count(), 0)
        self.assertFalse(GuardCounter.objects.filter(hits__gt=0).exists())
        message.connection = sms.get_connection(QUEUED, fail_silently=True)
        self.assertEqual(message.send(), 1)
        self.assertEqual(Message.objects.filter(status="queued").count(), 3)
        self.assertEqual(
            [r.status for r in message.results], ["queued"] * 3 + ["blocked"] * 2
        )

    @override_settings(SMS_GUARDS={"limits": {"caller:ip": "2/h"}})
    def test_caller_keys_from_the_context_manager(self):
        with guards.caller(ip="203.0.113.9", user=42):
            _send(GB)
            _send(GB2)
            with self.assertRaises(SendRefused) as caught:
                _send(LT)
        self.assertEqual(caught.exception.rule, "limit:caller:ip")
        with guards.caller(ip="203.0.113.10"):
            _send(LT)  # another caller
        _send(US)  # no caller key: this limit does not apply

    @override_settings(SMS_GUARDS={"limits": {"international": "1/h"}, "home": ["GB"]})
    def test_international_traffic_site_wide(self):
        _send(GB)
        _send(LT)
        _send(GB2)
        with self.assertRaises(SendRefused) as caught:
            _send(US)
        self.assertEqual(caught.exception.rule, "limit:international")

    @override_settings(
        SMS_GUARDS={"limits": {"country": "1/h"}, "limit_kinds": ["otp"]}
    )
    def test_limits_apply_only_to_the_kinds_named(self):
        _send(GB)
        _send(GB2, kind="marketing")
        with self.assertRaises(SendRefused):
            _send(GB2)

    def test_a_window_that_ended_starts_again(self):
        _send(GB)
        _send(GB)
        counter = GuardCounter.objects.get(key__startswith="recipient|")
        counter.window_start -= 86400
        counter.save()
        _send(GB)
        counter.refresh_from_db()
        self.assertEqual(counter.hits, 1)

    def test_the_guards_cost_one_statement_per_send(self):
        with transaction.atomic(), CaptureQueriesContext(connection) as guarded:
            _send(GB)
        with (
            override_settings(SMS_GUARDS={}),
            transaction.atomic(),
            CaptureQueriesContext(connection) as plain,
        ):
            _send(GB2)
        self.assertEqual(len(plain), 1)
        self.assertEqual(len(guarded), 2)
        self.assertIn("guardcounter", guarded[0]["sql"])


@override_settings(SMS_PRICES=PRICES)
class SpendCapTests(TestCase):
    @override_settings(SMS_GUARDS={"daily_cap": "0.10"})
    def test_the_daily_cap_refuses_and_the_admin_shows_why(self):
        _queue(self, GB)
        _queue(self, GB2)
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(SendRefused) as caught:
                _send("+447400123458")
        self.assertEqual(caught.exception.rule, "spend:day")
        blocked = Message.objects.get(status="blocked")
        self.assertEqual(blocked.blocked_by, "spend:day")
        self.assertIn("spend cap day of 0.1", blocked.last_error)
        site_day = get_spend()[0]
        self.assertEqual(
            (site_day.scope, site_day.period, site_day.spent, site_day.cap),
            ("*", "day", guards.Decimal("0.08"), guards.Decimal("0.10")),
        )

    @override_settings(SMS_GUARDS={"country_monthly_cap": {"LT": "0.60", "*": "10"}})
    def test_a_country_cap_leaves_other_countries_flowing(self):
        _send(LT)
        with self.assertRaises(SendRefused) as caught:
            _send("+37068000002")
        self.assertEqual(caught.exception.rule, "spend:country_month")
        _send(GB)
        self.assertEqual(Message.objects.filter(status="queued").count(), 2)

    @override_settings(SMS_GUARDS={"daily_cap": "0.05", "at_cap": "hold"})
    def test_hold_stores_the_sms_blocked_for_staff_to_send_anyway(self):
        _queue(self, GB)
        message, sent = _queue(self, GB2)
        self.assertEqual(sent, 1)  # held, not refused: no error for the caller
        self.assertEqual(message.results[0].status, "held")
        held = Message.objects.get(recipient=GB2)
        self.assertEqual((held.status, held.blocked_by), ("blocked", "spend:day"))
        self.assertEqual(guards.send_anyway([held]), 1)
        held.refresh_from_db()
        self.assertEqual(held.status, "queued")
        # What staff sent anyway counts as spent.
        self.assertEqual(get_spend()[0].spent, guards.Decimal("0.08"))

    @override_settings(SMS_GUARDS={"daily_cap": "0.09", "at_cap": "hold"})
    def test_a_held_message_beside_an_opted_out_one(self):
        from sms_outbox.optout import suppress

        suppress(GB, "test", "api")
        queued = sms.get_connection(QUEUED, fail_silently=True)
        with self.captureOnCommitCallbacks(execute=True):
            _queue(self, "+447400123458")  # 0.04 of 0.09
            sent = sms.send_mass_sms(
                [("Hi", "Acme", [GB]), ("Hi", "Acme", [GB2])], connection=queued
            )
        self.assertEqual(sent, 1)  # the held one; the opted-out one is skipped
        self.assertEqual(
            sorted(Message.objects.values_list("recipient", "status")),
            [(GB2, "blocked"), ("+447400123458", "queued")],
        )
        # The opted-out SMS was not counted as spent.
        self.assertEqual(get_spend()[0].spent, guards.Decimal("0.04"))

    @override_settings(SMS_PRICES={"GB": "0.04"}, SMS_GUARDS={"daily_cap": "1"})
    def test_a_cap_without_a_price_for_the_destination_is_a_configuration_error(self):
        with self.assertRaises(SmsConfigurationError) as caught:
            _send(LT, fail_silently=True)
        self.assertIn("SMS_PRICES has no price", str(caught.exception))


@override_settings(
    SMS_GUARDS={"conversion": {"sends": 4, "below": 0.5, "cooldown": 3600}}
)
class ConversionTests(TestCase):
    def test_a_prefix_that_never_converts_is_blocked_logged_and_liftable(self):
        with self.assertLogs("sms_outbox.guards", logging.WARNING) as logs:
            for last in range(4):
                _send(f"+3706800000{last}")
        self.assertIn("Blocked SMS to prefix +3706800", "\n".join(logs.output))
        with self.assertRaises(SendRefused) as caught:
            _send("+37068000009")
        self.assertEqual(caught.exception.rule, "blocked:prefix")
        event = GuardEvent.objects.get(scope="prefix")
        self.assertEqual(
            (event.scope, event.value, event.action), ("prefix", "+3706800", "blocked")
        )
        block = GuardCounter.objects.get(key="conversion|prefix|+3706800")
        self.assertGreater(block.blocked_until, time.time())
        self.assertTrue(guards.lift(block, by="ops"))
        self.assertFalse(guards.lift(block, by="ops"))
        # Every SMS here went to LT: the country was blocked with the prefix.
        with self.assertRaises(SendRefused) as caught:
            _send("+37068000009")
        self.assertEqual(caught.exception.rule, "blocked:country")
        guards.lift(GuardCounter.objects.get(key="conversion|country|LT"), by="ops")
        _send("+37068000009")
        self.assertEqual(GuardEvent.objects.first().action, "lifted")

    def test_confirmed_codes_keep_the_prefix_open(self):
        for last in range(8):
            _message, _sent = _send(f"+3706800000{last}")
            row = Message.objects.latest("pk")
            if last % 4 != 3:  # three in four codes are used
                target = [row, row.reference, row.recipient][last % 3]
                self.assertTrue(sms_outbox.confirm(target))
        self.assertFalse(GuardEvent.objects.exists())
        self.assertFalse(sms_outbox.confirm("no-such-reference"))

    def test_a_code_counts_once(self):
        _send(GB)
        row = Message.objects.get()
        self.assertTrue(sms_outbox.confirm(row))
        self.assertFalse(sms_outbox.confirm(row.reference))
        self.assertEqual(
            GuardCounter.objects.get(key__startswith="conversion|prefix").converted, 1
        )

    def test_other_kinds_do_not_count_towards_the_rate(self):
        for last in range(6):
            _send(f"+3706800000{last}", kind="marketing")
        self.assertFalse(GuardEvent.objects.exists())

    @override_settings(
        SMS_GUARDS={
            "conversion": {"sends": 2, "below": 0.5},
            "safe": ["+3706800"],
        }
    )
    def test_a_safe_prefix_is_never_blocked(self):
        for last in range(5):
            _send(f"+3706800000{last}")
        self.assertFalse(GuardEvent.objects.exists())


class SettingTests(TestCase):
    def test_invalid_settings_raise_a_clear_error(self):
        cases = [
            ({"countries": {"GB": "yes"}}, "'allow', 'block' or 'monitor'"),
            ({"limits": {"prefix": "lots"}}, "'N/period'"),
            ({"limits": {"ip": "1/h"}}, "caller:<key name>"),
            ({"daily_cap": "much"}, "an amount"),
            ({"at_cap": "queue"}, "'refuse' or 'hold'"),
            ({"typo": 1}, "unknown keys"),
        ]
        for value, expected in cases:
            with self.subTest(value=value), override_settings(SMS_GUARDS=value):
                with self.assertRaises(SmsConfigurationError) as caught:
                    _send(GB, fail_silently=True)
                self.assertIn(expected, str(caught.exception))

    def test_send_refused_is_an_sms_error_with_its_rule(self):
        error = SendRefused("no", rule="limit:prefix", recipient="+44****")
        self.assertIsInstance(error, SmsSendError)
        self.assertIsInstance(error, SmsError)
        self.assertEqual((error.rule, error.code), ("limit:prefix", "limit:prefix"))


class CheckTests(TestCase):
    def test_no_country_warns_under_deploy(self):
        self.assertEqual(
            check_guard_countries(),
            [
                checks.Warning(
                    "SMS_GUARDS sets no country: SMS go to every destination, "
                    "premium-rate ranges abroad included (SMS pumping).",
                    hint="Set SMS_GUARDS['countries'] to the countries you send "
                    "to, such as {'GB': 'allow', '*': 'block'}.",
                    id="sms_outbox.W030",
                )
            ],
        )
        with override_settings(SMS_GUARDS={"countries": {"GB": "allow"}}):
            self.assertEqual(check_guard_countries(), [])

    def test_registered_as_a_deploy_check(self):
        ids = {m.id for m in checks.run_checks(include_deployment_checks=True)}
        self.assertIn("sms_outbox.W030", ids)
        self.assertNotIn("sms_outbox.W030", {m.id for m in checks.run_checks()})

    @override_settings(SMS_GUARDS={"at_cap": "later"})
    def test_invalid_setting(self):
        [error] = check_guard_settings()
        self.assertEqual(error.id, "sms_outbox.E030")
        self.assertIn("at_cap 'later'", error.msg)

    @override_settings(SMS_GUARDS={"countries": {"GB": "allow"}})
    def test_countries_without_phonenumbers(self):
        from sms import phone

        saved, phone.phonenumbers = phone.phonenumbers, None
        self.addCleanup(setattr, phone, "phonenumbers", saved)
        [warning] = check_guard_settings()
        self.assertEqual(warning.id, "sms_outbox.W031")

    @override_settings(SMS_PRICES={"GB": "0.04"}, SMS_GUARDS={"daily_cap": "5"})
    def test_caps_without_a_catch_all_price(self):
        [warning] = check_guard_settings()
        self.assertEqual(warning.id, "sms_outbox.W032")


@pytest.mark.django_db
@override_settings(SMS_GUARDS={"conversion": {"sends": 1, "below": 1.0}})
def test_admin_lists_blocks_and_lifts_them(admin_client):
    _send(LT)
    url = reverse("admin:sms_outbox_guardblock_changelist")
    page = admin_client.get(url)
    assert "+3706800" in page.content.decode()
    block = GuardCounter.objects.get(key="conversion|prefix|+3706800")
    admin_client.post(url, {"action": "lift_blocks", "_selected_action": [block.pk]})
    block.refresh_from_db()
    assert block.blocked_until == 0
    assert GuardEvent.objects.first().by == "admin"


@pytest.mark.django_db
@override_settings(SMS_GUARDS={"countries": {"*": "block"}})
def test_admin_send_anyway_needs_its_permission(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SendRefused):
        _send(LT)
    row = Message.objects.get(status="blocked")
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_message"),
        Permission.objects.get(codename="change_message"),
    )
    client.force_login(user)
    changelist = reverse("admin:sms_outbox_message_changelist")
    page = client.get(changelist, {"status__exact": "blocked"})
    assert "send_anyway" not in page.content.decode()
    user.user_permissions.add(Permission.objects.get(codename="send_blocked"))
    user = User.objects.get(pk=user.pk)
    client.force_login(user)
    page = client.get(changelist, {"status__exact": "blocked"})
    assert "send_anyway" in page.content.decode()
    client.post(changelist, {"action": "send_anyway", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == "queued"


@pytest.mark.django_db
@override_settings(SMS_PRICES=PRICES, SMS_GUARDS={"daily_cap": "1.00"})
def test_health_page_shows_spend_against_the_caps(admin_client):
    _send(GB)
    page = admin_client.get(reverse("admin:sms_outbox_message_health"))
    html = page.content.decode()
    assert 'id="health-spend"' in html
    assert "0.04" in html and "1.00" in html and "(4%)" in html
