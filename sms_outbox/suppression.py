"""The suppression list's functions under the path earlier releases documented.

New code imports them from ``sms_outbox.optout``.
"""

from sms_outbox.optout import (
    enforced_among,
    is_suppressed,
    suppress,
    suppressed_among,
    unsuppress,
)

__all__ = [
    "enforced_among",
    "is_suppressed",
    "suppress",
    "suppressed_among",
    "unsuppress",
]
