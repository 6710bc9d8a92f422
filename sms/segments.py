"""Count the parts (segments) an SMS body is billed as, and its encoding.

GSM 03.38 packs 160 septets into one SMS, 153 per part once a concatenation
header is needed. Characters from the extension table take two septets (escape
plus character) and are never split across parts. Any character outside GSM-7
switches the whole message to UCS-2: 70 UTF-16 code units in one part, 67 per
part, and a surrogate pair (emoji) is never split.
"""

from __future__ import annotations

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

#: (units in a single part, units per part of a concatenated message)
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


def get_encoding(body: str) -> str:
    """Return ``"GSM-7"`` if all of ``body`` fits GSM-7, else ``"UCS-2"``."""
    return GSM7 if _GSM7.issuperset(body) else UCS2


def _in_bmp(body: str) -> bool:
    """Return True if no character of ``body`` needs two UTF-16 code units."""
    return not body or max(body) <= "\uffff"


def _unit_widths(body: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if char in GSM7_EXTENSION else 1 for char in body]
    return [2 if ord(char) > 0xFFFF else 1 for char in body]


def count_segments(body: str, encoding: str | None = None) -> int:
    """Return the number of parts ``body`` is sent (and billed) as.

    An empty body still goes out as one part.
    """
    encoding = encoding or get_encoding(body)
    single, per_part = _LIMITS[encoding]
    if len(body) <= single and (
        GSM7_EXTENSION.isdisjoint(body) if encoding == GSM7 else _in_bmp(body)
    ):
        return 1  # one unit per character, and they fit one part
    widths = _unit_widths(body, encoding)
    total = sum(widths)
    if total <= single:
        return 1
    if total == len(widths):
        # No two-unit characters: nothing can straddle a boundary.
        return -(-total // per_part)
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts, used = parts + 1, 0
        used += width
    return parts
