"""Validate and normalise recipients (E.164) and originators; mask numbers for logs."""

from __future__ import annotations

import functools
import re

from sms.conf import get_setting
from sms.exceptions import InvalidPhoneNumber

try:
    # Imported as itself: other modules ask ``sms.phone.phonenumbers``
    # whether the optional extra is installed.
    import phonenumbers as phonenumbers
except ImportError:  # the optional extra django-sms[phonenumbers]
    phonenumbers = None  # type: ignore[assignment]

__all__ = [
    "country_of",
    "mask_phone_number",
    "normalize_phone_number",
    "validate_originator",
]

# Characters people put between digits: spaces, dashes, dots and brackets.
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0]")
# [0-9], not \d: \d also matches other scripts' digits, which no network routes.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_NATIONAL = re.compile(r"[0-9]{2,17}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 +\-&_.]{1,11}")


def _refuse(value: object, reason: str) -> InvalidPhoneNumber:
    return InvalidPhoneNumber(f"{value!r} is not a valid phone number: {reason}.")


def _check_with_phonenumbers(value: object, compact: str, region: str | None) -> str:
    # An international number reads the same whatever the default region:
    # checked under None, it shares its remembered check with country_of().
    number, reason, _ = _checked(compact, None if compact.startswith("+") else region)
    if number is None:
        raise _refuse(value, reason)
    return number


@functools.lru_cache(maxsize=4096)
def _checked(compact: str, region: str | None) -> tuple[str | None, str, str | None]:
    """Return ``compact`` in E.164 and its country, or None and why not.

    Remembered per number: a site texts the same numbers again and again (a
    code, then the next one), and checking a number against its country's
    plan costs more than the rest of queueing the SMS (docs/performance.md).
    One parse answers both questions a send asks, whether the number exists
    and which country holds it (``country_of()``: prices, send guards,
    routes); the country is None when no country's plan holds the number.
    """
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as err:
        # str(err) starts with the error type number: "(1) The string ...".
        return None, re.sub(r"^\(\d+\) ", "", str(err)).rstrip("."), None
    # is_valid_number() is exactly this, and the region comes with it ("001"
    # for non-geographic numbers such as +800, which belong to no country).
    region_code: str | None = phonenumbers.region_code_for_number(parsed)
    country = None if region_code in (None, "ZZ", "001") else region_code
    if region_code is None or not phonenumbers.is_valid_number_for_region(
        parsed, region_code
    ):
        return None, "no such number exists in its numbering plan", country
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, "", country


def normalize_phone_number(value: str, region: str | None = None) -> str:
    """Return ``value`` in E.164 form (``"+441134960000"``) or raise.

    Separators are dropped. A national number (no leading ``+``) needs the
    ``phonenumbers`` extra and a region, from ``region`` or
    ``SMS_DEFAULT_REGION``. With ``phonenumbers`` installed every number must
    also exist in its country's numbering plan. Raise ``InvalidPhoneNumber``
    naming the value and the reason otherwise.
    """
    if not isinstance(value, str):
        raise _refuse(value, "expected a string such as '+441134960000'")
    compact = _SEPARATORS.sub("", value)
    if not compact:
        raise _refuse(value, "it is empty")
    region = region or get_setting("SMS_DEFAULT_REGION")
    if compact.startswith("+"):
        if not _E164.fullmatch(compact):
            raise _refuse(value, "after '+' expected 7 to 15 digits, the first not 0")
        if phonenumbers is None:
            return compact
    elif not _NATIONAL.fullmatch(compact):
        # phonenumbers would read letters as keypad digits ("0800 FLOWERS").
        raise _refuse(value, "only digits, spaces, dashes, dots and brackets allowed")
    elif phonenumbers is None or not region:
        raise _refuse(
            value,
            "use the international format with '+' and the country code "
            "(national numbers need SMS_DEFAULT_REGION and the phonenumbers "
            'extra: pip install "django-sms[phonenumbers]")',
        )
    return _check_with_phonenumbers(value, compact, region)


def validate_originator(value: str) -> str:
    """Return a usable sender: an E.164 number, a short code or a sender id.

    A short code has 3 to 8 digits; an alphanumeric sender id has 1 to 11
    letters, digits, spaces or ``+-&_.`` with at least one letter.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidPhoneNumber(
            f"{value!r} is not a valid originator: set DEFAULT_FROM_SMS or pass an "
            "E.164 number, a 3-8 digit short code or an 11-character sender id."
        )
    stripped = value.strip()
    if _SHORT_CODE.fullmatch(stripped) or _SENDER_ID.fullmatch(stripped):
        return stripped
    if stripped.startswith("+") or stripped[0].isdigit() or stripped[0] == "(":
        try:
            return normalize_phone_number(stripped)
        except InvalidPhoneNumber as err:
            raise InvalidPhoneNumber(
                str(err).replace("phone number", "originator", 1)
            ) from err
    raise InvalidPhoneNumber(
        f"{value!r} is not a valid originator: an alphanumeric sender id has 1 to "
        "11 letters, digits, spaces or '+-&_.' and at least one letter."
    )


def mask_phone_number(value: str) -> str:
    """Return ``value`` with its middle digits hidden: ``+4411****0000``.

    For log lines and error texts, where a full number is personal data.
    """
    value = str(value)
    if len(value) <= 8:
        return value[:2] + "*" * max(len(value) - 2, 0)
    # Keep the last four and at most five leading characters (the country and
    # area code of an E.164 number), hiding at least four in a national number.
    shown = max(2, min(5, len(value) - 8))
    return value[:shown] + "*" * (len(value) - shown - 4) + value[-4:]


def country_of(number: str) -> str | None:
    """Return the ISO 3166 country code (``"GB"``) of E.164 ``number``, or None.

    Needs the ``phonenumbers`` extra; without it, or for a number that no
    country's plan holds, return None. Numbers shared by several countries
    (``+1``, ``+7``) get the country whose plan holds them.
    """
    if phonenumbers is None or not isinstance(number, str):
        return None
    return _checked(number, None)[2]
