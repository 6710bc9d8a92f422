"""Segment counting at every part boundary, the GSM-7 set against an oracle."""

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec: the oracle)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.segments import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    UCS2,
    count_segments,
    get_encoding,
)

EURO = "€"  # a GSM-7 extension character: two septets
ZHE = "ж"  # outside GSM-7: makes the message UCS-2
EMOJI = "😀"  # outside the BMP: two UTF-16 code units


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        ("", 1),
        ("a", 1),
        ("a" * 159, 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 305, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
    ],
)
def test_gsm7_boundaries(body, parts):
    assert get_encoding(body) == GSM7
    assert count_segments(body) == parts


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        # 160 septets with the extension character last: still one part.
        ("a" * 158 + EURO, 1),
        ("a" * 159 + EURO, 2),
        (EURO * 80, 1),
        (EURO * 81, 2),
        # Extension character on septets 153/154 of the first part: it moves
        # whole to part two, which it then shares with 151 septets.
        ("a" * 152 + EURO + "a" * 151, 2),
        ("a" * 152 + EURO + "a" * 152, 3),
        # ... the same at the 306/307 boundary of the second part.
        ("a" * 305 + EURO + "a" * 151, 3),
        ("a" * 305 + EURO + "a" * 152, 4),
        ("a" * 304 + EURO + "a" * 153, 3),
        ("a" * 153 + EURO + "a" * 151, 2),
        # Every part holds 76 extension characters (152 septets), not 76.5.
        (EURO * 152, 2),
        (EURO * 153, 3),
    ],
)
def test_extension_characters_never_split(body, parts):
    assert get_encoding(body) == GSM7
    assert count_segments(body) == parts


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        (ZHE, 1),
        (ZHE * 70, 1),
        (ZHE * 71, 2),
        (ZHE * 134, 2),
        (ZHE * 135, 3),
        (ZHE * 201, 3),
        (ZHE * 202, 4),
        # One UCS-2 character switches the whole message: 160 code units.
        ("a" * 159 + ZHE, 3),
    ],
)
def test_ucs2_boundaries(body, parts):
    assert get_encoding(body) == UCS2
    assert count_segments(body) == parts


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        (ZHE * 68 + EMOJI, 1),
        (ZHE * 69 + EMOJI, 2),
        (EMOJI * 35, 1),
        (EMOJI * 36, 2),
        # Emoji on code units 67/68 of the first part moves whole to part two.
        (ZHE * 66 + EMOJI + ZHE * 65, 2),
        (ZHE * 66 + EMOJI + ZHE * 66, 3),
        (ZHE * 67 + EMOJI + ZHE * 65, 2),
        # 33 emoji (66 units) per part, not 33.5.
        (EMOJI * 66, 2),
        (EMOJI * 67, 3),
    ],
)
def test_emoji_never_split(body, parts):
    assert get_encoding(body) == UCS2
    assert count_segments(body) == parts


def test_explicit_encoding_is_used():
    assert count_segments("a" * 71, UCS2) == 2
    assert count_segments("a" * 71, GSM7) == 1


def _oracle_septets(char):
    """Return the septets gsm0338 encodes ``char`` as, or None if it cannot."""
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def test_gsm7_charset_matches_gsm0338_oracle():
    basic, extension = set(), set()
    # Every BMP character, and a sample of the others (the oracle is slow).
    code_points = [*range(0xD800), *range(0xE000, 0x10000)]
    code_points += range(0x10000, 0x110000, 0x101)
    for code_point in code_points:
        char = chr(code_point)
        septets = _oracle_septets(char)
        if septets == 1:
            basic.add(char)
        elif septets == 2:
            extension.add(char)
    # The oracle maps ESC (0x1B) to U+001B, but on the air 0x1B is the escape
    # into the extension table, not a character: a body holding U+001B cannot
    # be sent as GSM-7 (the handset would swallow the next character), so
    # it goes as UCS-2.
    assert basic - GSM7_BASIC == {"\x1b"}
    assert GSM7_BASIC <= basic
    assert extension == GSM7_EXTENSION


def test_escape_character_is_not_gsm7():
    assert get_encoding("a\x1b") == UCS2
    assert get_encoding("a" + "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) == GSM7


def _brute_force_parts(body):
    """Split ``body`` into parts by trying characters one at a time.

    Written independently of ``sms.segments``: widths come from the gsm0338
    oracle (septets) or from UTF-16 (code units), and a character that does
    not fit goes whole to a new part.
    """
    septets = [_oracle_septets(char) for char in body]
    if "\x1b" not in body and None not in septets:
        widths, single, per_part = septets, 160, 153
    else:
        widths = [len(char.encode("utf-16-be")) // 2 for char in body]
        single, per_part = 70, 67
    if sum(widths) <= single:
        return [body]
    parts, current, used = [], "", 0
    for char, width in zip(body, widths, strict=True):
        if used + width > per_part:
            parts.append(current)
            current, used = "", 0
        current += char
        used += width
    parts.append(current)
    return parts


_ALPHABET = st.sampled_from(
    ["a", "Z", " ", "\n", "@", "é", "Δ", EURO, "[", "\\", "\f", ZHE, "中", EMOJI]
)
_BODIES = st.one_of(
    st.lists(_ALPHABET, max_size=480).map("".join),
    st.lists(st.sampled_from(["a", "1", EURO, "^", "~"]), max_size=480).map("".join),
    st.text(max_size=200),
)


@settings(max_examples=300, deadline=None)
@given(_BODIES)
def test_segments_never_undercount_brute_force(body):
    expected = len(_brute_force_parts(body))
    assert count_segments(body) >= expected
    assert count_segments(body) == expected
