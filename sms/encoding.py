"""Smart encoding (look-alikes to GSM-7) and the preview of what an SMS costs.

An em dash or a curly quote makes a whole SMS UCS-2: 70 characters a part
instead of 160. Smart encoding replaces such look-alikes with GSM-7
characters, but only when the whole body then fits GSM-7, as Twilio's Smart
Encoding does; otherwise the body is left as written, since it goes out as
UCS-2 anyway and every character is kept.

The replacements come from two maintained tables, never a hand-written list:

- Unicode's compatibility decompositions (the Unicode Character Database in
  Python's ``unicodedata``): no-break and other width spaces, the ellipsis,
  full-width and half-width forms, ligatures.
- ``anyascii`` (the ``smart-encoding`` extra), a maintained Unicode to ASCII
  transliteration table: curly quotes, dashes, primes, zero-width spaces.

Only characters that stand for punctuation, spacing or formatting are
replaced (Unicode categories P, Z, Cf, Lm, Sk and Sm, and compatibility
forms of any character); letters are never transliterated, so ``á`` and
Arabic or Cyrillic text stay as written.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError
from sms.segments import GSM7, GSM7_BASIC, GSM7_EXTENSION, UCS2, count_segments

try:
    from anyascii import anyascii
except ImportError:  # the optional extra django-sms[smart-encoding]
    anyascii = None  # type: ignore[assignment]

__all__ = [
    "Preview",
    "Replacement",
    "preview",
    "smart_encode",
    "smart_encoding_enabled",
]

#: Units in a single part, and per part of a concatenated message.
_CAPACITY = {GSM7: (160, 153), UCS2: (70, 67)}
#: Compatibility decompositions that keep a character's look; <super>,
#: <sub>, <circle>, <fraction> and the like change what it says ("m²").
_LOOK_ALIKE_TAGS = ("<compat>", "<noBreak>", "<wide>", "<narrow>", "<small>")
#: Categories anyascii may replace: punctuation, spaces, format characters
#: (zero-width ones), modifier letters and symbols, and maths symbols (−, ⁄).
_LOOK_ALIKE_CATEGORIES = ("P", "Z", "Cf", "Lm", "Sk", "Sm")
#: Longest replacement of one character ("..." for the ellipsis); longer ones
#: (anyascii spells some symbols out) are not look-alikes.
_MAX_REPLACEMENT = 3


@dataclass(frozen=True)
class Replacement:
    """One character smart encoding replaced, what it put instead, how often."""

    char: str
    replacement: str
    count: int

    def __str__(self) -> str:
        times = f" ×{self.count}" if self.count > 1 else ""
        return f"{self.char} (U+{ord(self.char):04X}) → {self.replacement!r}{times}"


@dataclass(frozen=True)
class Preview:
    """What an SMS will be sent as, and what it will cost.

    ``body`` is the text as it will go out (after smart encoding, if on),
    ``encoding`` ``"GSM-7"`` or ``"UCS-2"``, ``parts`` the number of parts it
    is billed as, ``characters`` the units it uses (a GSM-7 extension
    character or an emoji counts two), ``characters_per_part`` what one part
    holds (160 or 153 in GSM-7, 70 or 67 in UCS-2), ``replaced`` what smart
    encoding replaced, and ``cost`` the estimated cost for every recipient
    from ``SMS_PRICES`` (None when no recipient is given or one has no price).
    """

    body: str
    encoding: str
    parts: int
    characters: int
    characters_per_part: int
    replaced: tuple[Replacement, ...] = ()
    cost: Decimal | None = None

    @property
    def characters_replaced(self) -> int:
        """Return how many characters smart encoding replaced."""
        return sum(item.count for item in self.replaced)

    def __str__(self) -> str:
        parts = "1 part" if self.parts == 1 else f"{self.parts} parts"
        return (
            f"{parts}, {self.characters}/{self.parts * self.characters_per_part} "
            f"characters ({self.encoding})"
        )


def smart_encoding_enabled(override: bool | None = None) -> bool:
    """Return whether smart encoding applies: ``override``, else the setting.

    Raise ``SmsConfigurationError`` when it applies but ``anyascii`` is not
    installed, so that a site never believes it is on when it is not.
    """
    enabled = get_setting("SMS_SMART_ENCODING") if override is None else override
    if not isinstance(enabled, bool):
        raise SmsConfigurationError(
            f"SMS_SMART_ENCODING is {enabled!r}: set it to True or False."
        )
    if enabled and anyascii is None:
        raise SmsConfigurationError(
            "Smart encoding is on but the anyascii package it needs is not "
            "installed: pip install "
            '"django-sms[smart-encoding]", or set SMS_SMART_ENCODING to False.'
        )
    return enabled


def smart_encode(body: str) -> tuple[str, tuple[Replacement, ...]]:
    """Return ``body`` with look-alikes replaced, and what was replaced.

    Only when every character then fits GSM-7; otherwise return ``body``
    unchanged and no replacements. Needs ``anyascii`` (see
    ``smart_encoding_enabled()``).
    """
    if _fits_gsm7(body):
        return body, ()
    out, counts = [], Counter[tuple[str, str]]()
    for char in body:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            out.append(char)
            continue
        replacement = _replacement(char)
        if replacement is None:
            return body, ()
        out.append(replacement)
        counts[char, replacement] += 1
    replaced = tuple(Replacement(c, r, n) for (c, r), n in counts.items())
    return "".join(out), replaced


def preview(
    body: str, recipients: list[str] | tuple[str, ...] = (), smart: bool = False
) -> Preview:
    """Return the ``Preview`` of ``body`` sent to ``recipients``.

    ``smart`` applies smart encoding first. The cost comes from
    ``sms.pricing.estimate_cost()`` for each recipient, summed.
    """
    from sms.pricing import estimate_cost

    replaced: tuple[Replacement, ...] = ()
    if smart:
        body, replaced = smart_encode(body)
    encoding = GSM7 if _fits_gsm7(body) else UCS2
    parts = count_segments(body, encoding)
    if encoding == GSM7:
        characters = sum(2 if char in GSM7_EXTENSION else 1 for char in body)
    else:
        characters = len(body.encode("utf-16-le")) // 2
    single, per_part = _CAPACITY[encoding]
    costs = [estimate_cost(body, number) for number in recipients]
    cost = None
    if costs and all(item is not None for item in costs):
        cost = sum((item for item in costs if item is not None), Decimal(0))
    return Preview(
        body=body,
        encoding=encoding,
        parts=parts,
        characters=characters,
        characters_per_part=single if parts == 1 else per_part,
        replaced=replaced,
        cost=cost,
    )


def describe(replaced: tuple[Replacement, ...] | list[Replacement]) -> str:
    """Return ``replaced`` as one line for a log, the admin or the outbox row."""
    return "; ".join(str(item) for item in replaced)


def _fits_gsm7(body: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body)


@lru_cache(maxsize=1024)
def _replacement(char: str) -> str | None:
    """Return the GSM-7 look-alike of ``char``, or None if it has none."""
    decomposition = unicodedata.decomposition(char)
    if decomposition.startswith(_LOOK_ALIKE_TAGS):
        folded = unicodedata.normalize("NFKC", char)
        if folded != char and _fits_gsm7(folded):
            return folded
    if anyascii is None:
        return None
    category = unicodedata.category(char)
    if not category.startswith(_LOOK_ALIKE_CATEGORIES):
        return None
    replacement: str = anyascii(char)
    if len(replacement) > _MAX_REPLACEMENT or not _fits_gsm7(replacement):
        return None
    if not replacement and not category == "Cf":
        # Only invisible characters may disappear.
        return None
    return replacement
