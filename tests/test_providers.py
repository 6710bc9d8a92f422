from django.core.checks import Error
from django.test import SimpleTestCase, TestCase, override_settings

import sms
from sms.checks import check_sms_providers
from sms.exceptions import SmsConfigurationError
from sms.providers import backend_path, sender_in
from sms.testing import FakeTwilio

TWILIO = "sms.backends.twilio.SmsBackend"
GB = "+441134960000"


def twilio_alias(fake, **options):
    return {
        "BACKEND": TWILIO,
        "OPTIONS": {
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "api_url": fake.url,
            **options,
        },
    }


class NamedConnectionTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first = FakeTwilio(account_sid="AC" + "1" * 32, auth_token="one").start()
        cls.second = FakeTwilio(account_sid="AC" + "2" * 32, auth_token="two").start()
        cls.addClassCleanup(cls.first.stop)
        cls.addClassCleanup(cls.second.stop)

    def setUp(self):
        self.first.reset()
        self.second.reset()
        providers = {
            "first": twilio_alias(self.first, default_from="+12065550101"),
            "second": twilio_alias(self.second),
        }
        patcher = override_settings(SMS_PROVIDERS=providers, DEFAULT_FROM_SMS="Site")
        patcher.enable()
        self.addCleanup(patcher.disable)

    def test_two_accounts_side_by_side(self):
        for alias in ("first", "second"):
            connection = sms.get_connection(alias)
            self.assertEqual(connection.alias, alias)
            sms.send_sms("hi", "+12065550109", [GB], connection=connection)
        self.assertEqual([m["to"] for m in self.first.messages], [GB])
        self.assertEqual([m["to"] for m in self.second.messages], [GB])
        self.assertEqual(self.first.requests[0].basic_auth[1], "one")
        self.assertEqual(self.second.requests[0].basic_auth[1], "two")

    def test_the_alias_sender_replaces_the_site_default(self):
        sms.send_sms("hi", None, [GB], connection=sms.get_connection("first"))
        connection = sms.get_connection("first")
        sms.send_sms("hi", "+12065550109", [GB], connection=connection)
        self.assertEqual(
            [m["from"] for m in self.first.messages], ["+12065550101", "+12065550109"]
        )

    def test_sms_backend_may_name_an_alias(self):
        with self.settings(SMS_BACKEND="second"):
            self.assertEqual(sms.send_sms("hi", "+12065550109", GB), 1)
        self.assertEqual(len(self.second.messages), 1)
        self.assertEqual(self.first.messages, [])

    def test_keywords_beat_options(self):
        connection = sms.get_connection("first", timeout=3)
        self.assertEqual(connection.timeout, 3.0)

    def test_dotted_paths_still_work(self):
        self.assertEqual(backend_path("first"), TWILIO)
        self.assertEqual(backend_path(TWILIO), TWILIO)
        connection = sms.get_connection("sms.backends.locmem.SmsBackend")
        self.assertEqual(connection.alias, "")

    def test_unknown_alias_is_a_clear_error(self):
        with self.settings(SMS_BACKEND="third"):
            with self.assertRaisesMessage(ImportError, "cannot be imported"):
                sms.get_connection()
        with self.settings(SMS_PROVIDERS={"bad": {"OPTIONS": {}}}):
            with self.assertRaisesMessage(
                SmsConfigurationError, "must be a dict with a 'BACKEND' dotted path"
            ):
                sms.get_connection("bad")

    def test_twilio_edge_and_region_pick_the_host(self):
        connection = sms.get_connection(
            "second", api_url=None, edge="dublin", region="ie1"
        )
        self.assertEqual(connection.client.edge, "dublin")
        self.assertEqual(connection.client.region, "ie1")


class SenderTests(SimpleTestCase):
    def test_sender_by_country_then_star(self):
        table = {"GB": "ACME", "*": "+12065550101"}
        self.assertEqual(sender_in(table, "+441134960000"), "ACME")
        self.assertEqual(sender_in(table, "+12025550123"), "+12065550101")
        self.assertEqual(sender_in({}, "+12025550123"), "")


class ProviderCheckTests(SimpleTestCase):
    def test_valid(self):
        providers = {"a": {"BACKEND": TWILIO, "SENDERS": {"GB": "ACME"}}}
        with self.settings(SMS_PROVIDERS=providers):
            self.assertEqual(check_sms_providers(), [])

    def test_backend_not_importable(self):
        with self.settings(SMS_PROVIDERS={"a": {"BACKEND": "nope.Backend"}}):
            [error] = check_sms_providers()
        self.assertEqual(error.id, "sms.E005")
        self.assertIn("SMS_PROVIDERS['a']['BACKEND'] 'nope.Backend' cannot", error.msg)

    def test_alphanumeric_sender_for_the_us(self):
        providers = {"a": {"BACKEND": TWILIO, "SENDERS": {"US": "ACME", "gb": "X"}}}
        with self.settings(SMS_PROVIDERS=providers):
            errors = check_sms_providers()
        hint = (
            "Map ISO country codes (or '*') to senders, such as {'GB': 'ACME', "
            "'US': '+15550100', '*': '+15550100'}; the US and Canada need a number."
        )
        self.assertEqual(
            errors,
            [
                Error(
                    "SMS_PROVIDERS['a']['SENDERS']: US refuses alphanumeric senders, "
                    "but 'ACME' is one.",
                    hint=hint,
                    id="sms.E006",
                ),
                Error(
                    "SMS_PROVIDERS['a']['SENDERS']: 'gb' is not an ISO country code "
                    "or '*'.",
                    hint=hint,
                    id="sms.E006",
                ),
            ],
        )
