"""Estimate what an SMS costs: its parts times the price for its destination."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError
from sms.phone import country_of
from sms.segments import count_segments

__all__ = ["estimate_cost", "price_per_part"]


def price_per_part(number: str) -> Decimal | None:
    """Return the price of one part (segment) sent to E.164 ``number``, or None.

    ``SMS_PRICES`` maps destinations to prices: a key starting with ``+`` is
    a number prefix (the longest that matches wins), a two-letter key an ISO
    country code (through the ``phonenumbers`` extra), and ``"*"`` every
    other destination. None when no key applies or the setting is empty.
    """
    prices = _prices()
    if not prices:
        return None
    prefixes = [key for key in prices if key.startswith("+") and number.startswith(key)]
    if prefixes:
        return prices[max(prefixes, key=len)]
    country = country_of(number)
    if country is not None and country in prices:
        return prices[country]
    return prices.get("*")


def estimate_cost(body: str, number: str) -> Decimal | None:
    """Return the estimated cost of ``body`` sent to ``number``, or None.

    The number of parts the body is billed as times ``price_per_part()``.
    """
    price = price_per_part(number)
    return None if price is None else price * count_segments(body)


def _prices() -> dict[str, Decimal]:
    """Return ``SMS_PRICES`` with every price as a ``Decimal``; raise if invalid."""
    value: Any = get_setting("SMS_PRICES")
    if not isinstance(value, dict):
        raise SmsConfigurationError(
            f"SMS_PRICES is {value!r}: set it to a dict of destination to price "
            'per part, such as {"GB": "0.04", "+1": "0.0079", "*": "0.05"}.'
        )
    prices = {}
    for key, price in value.items():
        valid_key = isinstance(key, str) and (
            key == "*"
            or (key.startswith("+") and key[1:].isdigit())
            or (len(key) == 2 and key.isalpha() and key.isupper())
        )
        try:
            amount = Decimal(str(price))
        except InvalidOperation:
            amount = Decimal(-1)
        if not valid_key or not amount.is_finite() or amount < 0:
            raise SmsConfigurationError(
                f"SMS_PRICES has {key!r}: {price!r}: each key must be an ISO "
                'country code ("GB"), a number prefix ("+4479") or "*", and each '
                'price a number of at least 0 ("0.04").'
            )
        prices[key] = amount
    return prices
