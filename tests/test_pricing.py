"""Cost estimates: parts times the price of the destination (``sms.pricing``)."""

from decimal import Decimal

from django.test import SimpleTestCase, override_settings

from sms.exceptions import SmsConfigurationError
from sms.phone import country_of
from sms.pricing import estimate_cost, price_per_part

PRICES = {"GB": "0.04", "+1": "0.0079", "+4479": 0.5, "*": "0.06"}


@override_settings(SMS_PRICES=PRICES)
class PriceTests(SimpleTestCase):
    def test_the_longest_prefix_wins_over_the_country(self):
        self.assertEqual(price_per_part("+447911123456"), Decimal("0.5"))
        self.assertEqual(price_per_part("+441134960000"), Decimal("0.04"))
        self.assertEqual(price_per_part("+12065550100"), Decimal("0.0079"))

    def test_other_destinations_take_the_star(self):
        self.assertEqual(price_per_part("+61491570156"), Decimal("0.06"))

    def test_cost_is_parts_times_price(self):
        self.assertEqual(estimate_cost("a" * 161, "+441134960000"), Decimal("0.08"))
        self.assertEqual(estimate_cost("ж" * 71, "+441134960000"), Decimal("0.08"))

    @override_settings(SMS_PRICES={})
    def test_no_prices_no_estimate(self):
        self.assertIsNone(estimate_cost("hi", "+441134960000"))

    @override_settings(SMS_PRICES={"GB": "0.04"})
    def test_no_key_applies(self):
        self.assertIsNone(price_per_part("+61491570156"))

    def test_bad_settings_say_what_to_write(self):
        for value in ({"gb": 1}, {"GB": "free"}, {"GB": -1}, {"+44x": 1}, ["GB"]):
            with self.subTest(value=value), override_settings(SMS_PRICES=value):
                with self.assertRaisesRegex(SmsConfigurationError, "SMS_PRICES"):
                    price_per_part("+441134960000")


class CountryTests(SimpleTestCase):
    def test_country_of_a_number(self):
        self.assertEqual(country_of("+441134960000"), "GB")
        self.assertEqual(country_of("+61491570156"), "AU")
        self.assertIsNone(country_of("+999"))
