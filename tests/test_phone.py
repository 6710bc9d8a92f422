"""Phone number normalisation, originator validation and masking."""

import pytest

import sms.phone
from sms.exceptions import InvalidPhoneNumber
from sms.phone import mask_phone_number, normalize_phone_number, validate_originator


@pytest.fixture
def without_phonenumbers(monkeypatch):
    """Run as if the optional phonenumbers extra were not installed."""
    monkeypatch.setattr(sms.phone, "phonenumbers", None)


# Valid both with and without phonenumbers: E.164 after dropping separators.
INTERNATIONAL = [
    ("+441134960000", "+441134960000"),
    ("+44 113 496 0000", "+441134960000"),
    ("+44-113-496-0000", "+441134960000"),
    ("(+44) 1134960000", "+441134960000"),
    ("+44.113.496.0000", "+441134960000"),
    (" +44 113 496 0000\n", "+441134960000"),
    ("+44\u00a0113\u00a0496\u00a00000", "+441134960000"),
    ("+44 (113) 496-0000", "+441134960000"),
    ("+1 (206) 555-0100", "+12065550100"),
    ("+1 206 555 0101", "+12065550101"),
    ("+31 6 12345678", "+31612345678"),
    ("+1-415-555-2671", "+14155552671"),
]

# Invalid both with and without phonenumbers, with the reason shown.
ALWAYS_INVALID = [
    ("", "it is empty"),
    (" - ", "it is empty"),
    (None, "expected a string"),
    (441134960000, "expected a string"),
    ("+0441134960000", "the first not 0"),
    ("+123456", "7 to 15 digits"),
    ("+1234567890123456", "7 to 15 digits"),
    ("+44 113 496 000O", "7 to 15 digits"),
    # Arabic-Indic digits: \d would take them, no network would.
    ("+\u0664\u0664\u0661\u0661\u0663\u0664\u0669\u0666\u0660\u0660", "7 to 15"),
    ("++441134960000", "7 to 15 digits"),
    ("0113 496 0000", "international format"),
    ("tel:+441134960000", "only digits"),
]


@pytest.mark.parametrize(("value", "expected"), INTERNATIONAL)
def test_normalize_valid(value, expected):
    assert normalize_phone_number(value) == expected


@pytest.mark.parametrize(("value", "expected"), INTERNATIONAL)
def test_normalize_valid_without_phonenumbers(without_phonenumbers, value, expected):
    assert normalize_phone_number(value) == expected


@pytest.mark.parametrize(("value", "reason"), ALWAYS_INVALID)
def test_normalize_invalid(value, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone_number(value)
    assert str(info.value).startswith(f"{value!r} is not a valid phone number: ")
    assert reason in str(info.value)


@pytest.mark.parametrize(("value", "reason"), ALWAYS_INVALID)
def test_normalize_invalid_without_phonenumbers(without_phonenumbers, value, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone_number(value)
    assert str(info.value).startswith(f"{value!r} is not a valid phone number: ")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("0113 496 0000", "GB", "+441134960000"),
        ("0113-496-0999", "GB", "+441134960999"),
        ("00441134960000", "GB", "+441134960000"),
        ("+441134960000", "US", "+441134960000"),
        ("(206) 555-0100", "US", "+12065550100"),
        ("06 12345678", "NL", "+31612345678"),
    ],
)
def test_normalize_national_with_region(value, region, expected):
    assert normalize_phone_number(value, region=region) == expected


def test_normalize_national_with_default_region_setting(settings):
    settings.SMS_DEFAULT_REGION = "GB"
    assert normalize_phone_number("0113 496 0000") == "+441134960000"
    # An explicit region beats the setting.
    assert normalize_phone_number("(206) 555-0100", region="US") == "+12065550100"


@pytest.mark.parametrize(
    ("value", "region", "reason"),
    [
        # E.164-shaped but not a number in the UK plan.
        ("+447700900123", None, "no such number exists in its numbering plan"),
        ("+44 113 496", None, "no such number"),
        ("0113 496", "GB", "no such number"),
        # Keypad letters would otherwise become digits (0113 496 6666).
        ("0113 496 OOOO", "GB", "only digits"),
        ("0113 496 0000", "XX", ": Missing or invalid default region."),
    ],
)
def test_normalize_invalid_with_phonenumbers(value, region, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone_number(value, region=region)
    assert str(info.value).startswith(f"{value!r} is not a valid phone number: ")
    assert reason in str(info.value)


def test_without_phonenumbers_plan_is_not_checked(without_phonenumbers):
    assert normalize_phone_number("+447700900123") == "+447700900123"
    assert normalize_phone_number("+1234567") == "+1234567"
    assert normalize_phone_number("+123456789012345") == "+123456789012345"


def test_without_phonenumbers_national_numbers_need_the_extra(without_phonenumbers):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone_number("0113 496 0000", region="GB")
    assert str(info.value) == (
        "'0113 496 0000' is not a valid phone number: use the international "
        "format with '+' and the country code (national numbers need "
        "SMS_DEFAULT_REGION and the phonenumbers extra: pip install "
        '"django-sms[phonenumbers]").'
    )


def test_invalid_phone_number_is_value_error():
    with pytest.raises(ValueError):
        normalize_phone_number("nope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+441134960000", "+441134960000"),
        ("+44 113 496 0000", "+441134960000"),
        ("123", "123"),
        ("12345678", "12345678"),
        ("A", "A"),
        ("MyShop", "MyShop"),
        ("My Shop", "My Shop"),
        (" Shop ", "Shop"),
        ("ABCDEFGHIJK", "ABCDEFGHIJK"),
        ("Shop+Co", "Shop+Co"),
        ("R&D", "R&D"),
        ("a_b.c-d", "a_b.c-d"),
        ("1st Shop", "1st Shop"),
        ("+1 ABC", "+1 ABC"),
    ],
)
def test_validate_originator_valid(value, expected):
    assert validate_originator(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "set DEFAULT_FROM_SMS"),
        ("   ", "set DEFAULT_FROM_SMS"),
        (None, "set DEFAULT_FROM_SMS"),
        ("12", "not a valid originator"),
        ("123456789", "not a valid originator"),
        ("ABCDEFGHIJKL", "1 to 11 letters"),
        ("Shop!", "1 to 11 letters"),
        ("Café", "1 to 11 letters"),
        ("+-&_.", "not a valid originator"),
        ("+447700900123", "no such number"),
        ("+0441134960000", "the first not 0"),
    ],
)
def test_validate_originator_invalid(value, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        validate_originator(value)
    assert str(info.value).startswith(f"{value!r} is not a valid originator")
    assert reason in str(info.value)


def test_validate_originator_without_phonenumbers(without_phonenumbers):
    assert validate_originator("+447700900123") == "+447700900123"
    assert validate_originator("Shop") == "Shop"
    with pytest.raises(InvalidPhoneNumber):
        validate_originator("123456789")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+441134960000", "+4411****0000"),
        ("+12065550100", "+120****0100"),
        ("+31612345678", "+316****5678"),
        ("0600000000", "06****0000"),
        ("123456789", "12***6789"),
        ("12345678", "12******"),
        ("12345", "12***"),
        ("12", "12"),
        ("", ""),
        ("Shop", "Sh**"),
    ],
)
def test_mask_phone_number(value, masked):
    assert mask_phone_number(value) == masked
    assert len(masked) == len(value)


@pytest.mark.parametrize("length", range(9, 20))
def test_mask_hides_at_least_three_and_shows_at_most_nine(length):
    value = "+" + "1" * (length - 1)
    masked = mask_phone_number(value)
    assert masked.count("*") >= 3
    assert masked.count("*") >= 4 or length < 10
    assert len(masked) - masked.count("*") <= 9
