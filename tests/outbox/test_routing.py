from django.core.checks import Error
from django.test import SimpleTestCase, override_settings

from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    ProviderUnavailable,
    RecipientOptedOut,
    RecipientRejected,
    SmsConfigurationError,
)
from sms_outbox.drain.policy import provider_took
from sms_outbox.routing import (
    check_routes,
    next_alias,
    route_for,
    route_named,
    routes,
    sender_for,
)

TWILIO = {"BACKEND": "sms.backends.twilio.SmsBackend"}
PROVIDERS = {
    "a": TWILIO,
    "b": TWILIO,
    "c": {**TWILIO, "SENDERS": {"US": "+12065550100"}},
}
ROUTES = {
    "otp": {"KINDS": ["otp"], "PROVIDERS": ["c", "a"]},
    "uk-mobile": {"PREFIXES": ["+447"], "PROVIDERS": ["b"]},
    "uk": {"COUNTRIES": ["GB"], "PROVIDERS": ["a", "b", "c"]},
    "default": {"PROVIDERS": ["b", "a"], "SENDERS": {"GB": "ACME"}},
}
GB, GB_MOBILE, US = "+441134960000", "+447700900123", "+12025550123"


@override_settings(SMS_PROVIDERS=PROVIDERS, SMS_ROUTES=ROUTES)
class RouteForTests(SimpleTestCase):
    def test_first_matching_route_then_default(self):
        self.assertEqual(route_for(GB, ""), "uk")
        self.assertEqual(route_for(GB_MOBILE, ""), "uk-mobile")
        self.assertEqual(route_for(US, "otp"), "otp")
        self.assertEqual(route_for(US, "marketing"), "default")

    def test_no_routes_means_the_outbox_backend(self):
        with self.settings(SMS_ROUTES={}):
            self.assertEqual(route_for(GB, ""), "")
            self.assertIsNone(route_named("", GB, ""))
        with self.settings(SMS_ROUTES={"uk": ROUTES["uk"]}):
            self.assertEqual(route_for(US, ""), "")

    def test_a_route_gone_from_the_settings_is_routed_again(self):
        self.assertEqual(route_named("removed", GB, "").name, "uk")

    def test_bad_routes_are_clear_errors(self):
        cases = [
            ({"r": {"PROVIDERS": "a"}}, "list the SMS_PROVIDERS aliases"),
            ({"r": {"PROVIDERS": ["z"]}}, "names 'z', which is not an alias"),
            ({"r": {"PROVIDERS": ["a"], "COUNTRY": ["GB"]}}, "must be a dict with"),
            ({"r": {"PROVIDERS": ["a"], "KINDS": "otp"}}, "a list of strings"),
        ]
        for value, text in cases:
            with self.subTest(text), self.settings(SMS_ROUTES=value):
                with self.assertRaisesMessage(SmsConfigurationError, text):
                    routes()


@override_settings(SMS_PROVIDERS=PROVIDERS, SMS_ROUTES=ROUTES)
class NextAliasTests(SimpleTestCase):
    def test_what_fails_over(self):
        route = routes()["uk"]
        self.assertEqual(next_alias(route, "a", False), "b")
        self.assertEqual(next_alias(route, "a", False, frozenset({"b"})), "c")
        self.assertIsNone(next_alias(route, "c", False))
        self.assertIsNone(next_alias(route, "a", True))
        self.assertIsNone(next_alias(route, "a", None))
        opted_in = route.__class__(**{**route.__dict__, "failover_unknown": True})
        self.assertEqual(next_alias(opted_in, "a", None), "b")

    def test_provider_took(self):
        cases = [
            (None, True),
            (RecipientRejected("invalid number"), True),
            (RecipientOptedOut("stop"), True),
            (ProviderUnavailable("503"), False),
            (ProviderAccountError("suspended"), False),
            (OutcomeUnknown("timeout after sending"), None),
            (RuntimeError("backend bug"), None),
        ]
        for error, took in cases:
            with self.subTest(error=error):
                self.assertIs(provider_took(error), took)

    def test_sender_for(self):
        route = routes()["default"]
        with self.settings(DEFAULT_FROM_SMS="+12065550199"):
            self.assertEqual(sender_for(route, "c", GB, "+12065550199"), "ACME")
            self.assertEqual(sender_for(route, "c", US, ""), "+12065550100")
            self.assertEqual(sender_for(route, "a", US, "+12065550199"), "+12065550199")
            # An originator the caller chose stays.
            self.assertEqual(sender_for(route, "c", GB, "Shop"), "Shop")


HINT = (
    "Map ISO country codes (or '*') to senders, such as {'GB': 'ACME', "
    "'US': '+15550100', '*': '+15550100'}; the US and Canada need a number."
)


@override_settings(SMS_PROVIDERS=PROVIDERS)
class RouteCheckTests(SimpleTestCase):
    def test_valid(self):
        with self.settings(SMS_ROUTES=ROUTES):
            self.assertEqual(check_routes(), [])

    def test_unknown_alias(self):
        with self.settings(SMS_ROUTES={"r": {"PROVIDERS": ["z"]}}):
            self.assertEqual(
                check_routes(),
                [
                    Error(
                        "SMS_ROUTES['r']['PROVIDERS'] names 'z', which is not an "
                        "alias of SMS_PROVIDERS: add it there or remove it from "
                        "the route.",
                        hint="See the 'Several providers' page of the documentation.",
                        id="sms_outbox.E030",
                    )
                ],
            )

    def test_alphanumeric_fallback_reaching_the_us(self):
        routes = {
            "r": {"PROVIDERS": ["a"], "SENDERS": {"*": "ACME", "US": "+12065550100"}}
        }
        with self.settings(SMS_ROUTES=routes):
            self.assertEqual(
                check_routes(),
                [
                    Error(
                        "SMS_ROUTES['r']['SENDERS']: '*' gives the alphanumeric "
                        "sender 'ACME' to every other country, but CA refuse those.",
                        hint=HINT,
                        id="sms_outbox.E031",
                    )
                ],
            )
