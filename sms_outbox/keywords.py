"""Tell what an inbound body asks for: opt out, opt in, help, or nothing."""

from __future__ import annotations

from sms.conf import get_setting

__all__ = ["OPT_IN", "OPT_OUT", "HELP", "match_keyword"]

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"

_SETTINGS = (
    (OPT_OUT, "SMS_OUTBOX_OPT_OUT_KEYWORDS"),
    (OPT_IN, "SMS_OUTBOX_OPT_IN_KEYWORDS"),
    (HELP, "SMS_OUTBOX_HELP_KEYWORDS"),
)


def get_keywords(name: str) -> frozenset[str]:
    """Return the keywords of setting ``name``, case-folded.

    The setting is a list of words, or one string of comma-separated words
    (as an environment variable gives it).
    """
    value = get_setting(name) or ()
    if isinstance(value, str):
        value = value.split(",")
    return frozenset(
        str(word).strip().casefold() for word in value if str(word).strip()
    )


def match_keyword(body: str) -> str:
    """Return ``"opt_out"``, ``"opt_in"``, ``"help"`` or ``""`` for ``body``.

    The whole body must be the keyword; case and surrounding white space do
    not count, so "stop " opts out and "please stop" does not.
    """
    word = (body or "").strip().casefold()
    if not word:
        return ""
    for action, setting in _SETTINGS:
        if word in get_keywords(setting):
            return action
    return ""
