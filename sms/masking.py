"""Mask phone numbers, credentials and SMS bodies in texts and log records.

``mask_text()`` hides every phone-number-like run of digits (``+441134960000``,
``+44 113 496 0000``, ``(0113) 496-0000``, ``%2B441134960000``), the value
of ``Authorization``-style headers, and whatever ``hiding()`` names for the
send under way (a backend's credentials, the body it is sending).
``MaskNumbers`` is a ``logging.Filter`` that applies it to a record's text
and traceback: the provider backends attach it to their SDK's loggers, and a
site can put it on its own handlers (docs/deploying.md).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar, Token
from urllib.parse import quote, quote_plus

from sms.phone import mask_phone_number

__all__ = ["MaskNumbers", "hide", "install_filter", "mask_text", "unhide"]

#: What stands in the place of a hidden credential or body.
HIDDEN = "[hidden]"

# A run of digit groups joined by one separator (a space, dash, dot or
# brackets), maybe after "+" or "(", never glued to other digits: a number as
# people and providers write it. _mask_run() then judges the run as a whole.
_SEPARATOR = r"(?:[ .\-\u00a0]|[ .\-\u00a0]?[()][ .\-\u00a0]?)"
_CANDIDATE = re.compile(rf"(?<![0-9])[+(]?[0-9]+(?:{_SEPARATOR}[0-9]+)*(?![0-9])")
# Runs with as many digits as a phone number that are something else: dates
# (2024-01-15, 15.01.2024, also when a time follows; 20240115 as in
# AWS's X-Amz-Date) and IPv4 addresses.
_NOT_A_NUMBER = re.compile(
    r"(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
    r"|[0-9]{4}([-./])[0-9]{1,2}\4[0-9]{1,2}( [0-9]{1,2})?"
    r"|[0-9]{1,2}([-./])[0-9]{1,2}\6[0-9]{4}( [0-9]{1,2})?"
    r"|[0-9]{1,3}(\.[0-9]{1,3}){3}"
)
# The credential in an Authorization header (Basic, Bearer, MessageBird's
# AccessKey) and the access key id in an AWS signature.
_AUTHORIZATION = re.compile(
    r"\b(Basic|Bearer|AccessKey|Token) [A-Za-z0-9+/=._~-]{6,}"
    r"|\b(Credential)=[^/,\s'\"]+"
)
#: Shorter texts are not hidden: they carry little, and replacing every
#: "Hi" in a record would garble it.
_MIN_HIDDEN = 4

_hidden: ContextVar[tuple[str, ...]] = ContextVar("sms_masking_hidden", default=())


def hide(texts: Iterable[str | None]) -> Token[tuple[str, ...]]:
    """Hide ``texts`` from ``mask_text()`` in this context until ``unhide()``.

    A provider backend hides its credentials and the body while it sends one
    request, so that neither reaches a log record, a traceback or an error.
    Cheap: nothing is computed until a text is masked.
    """
    return _hidden.set(tuple(text for text in texts if text))


def unhide(token: Token[tuple[str, ...]]) -> None:
    """Stop hiding what the ``hide()`` call that returned ``token`` hid."""
    _hidden.reset(token)


def _forms(secret: str) -> set[str]:
    """Return ``secret`` as SDKs write it: as is, quoted, URL- or JSON-encoded."""
    return {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote_plus(secret),
        quote(secret, safe=""),
    }


def _mask_run(match: re.Match[str]) -> str:
    run = match.group()
    digits = sum(char.isdigit() for char in run)
    if digits < 7 or _NOT_A_NUMBER.fullmatch(run.lstrip("+(")):
        return run
    # More than 15 digits is several numbers in a row: masked as one.
    return mask_phone_number(run)


def mask_text(text: object) -> str:
    """Return ``text`` with phone numbers, credentials and hidden texts masked.

    Short codes, error codes, HTTP statuses, dates, times and IP addresses
    are left as they are.
    """
    text = str(text)
    for secret in _hidden.get():
        if len(secret) >= _MIN_HIDDEN:
            for form in _forms(secret):
                if form in text:
                    text = text.replace(form, HIDDEN)
    text = _AUTHORIZATION.sub(
        lambda m: f"{m.group(1)} {HIDDEN}" if m.group(1) else f"{m.group(2)}={HIDDEN}",
        text,
    )
    return _CANDIDATE.sub(_mask_run, text)


class MaskNumbers(logging.Filter):
    """Mask phone numbers (and hidden texts) in a record's message and traceback.

    The record's text and its traceback are rendered once, masked, before
    any handler sees them. On a logger it masks that logger's own records;
    on a handler, every record the handler writes. A filter only runs for a
    record its logger is enabled for, so it costs nothing while the level
    is off.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message and traceback by their masked text."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError, IndexError):
            message = f"{record.msg!s} (arguments that could not be formatted)"
        record.msg, record.args = mask_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_installed: dict[str, int] = {}


def install_filter(*prefixes: str) -> None:
    """Give every logger named ``prefix`` or ``prefix.*`` one ``MaskNumbers``.

    A filter on a logger only sees that logger's own records, so each of an
    SDK's loggers gets one. Loggers an SDK creates later get theirs at the
    next call; a call that finds no new logger costs one length check.
    """
    manager = logging.Logger.manager
    count = len(manager.loggerDict)
    for prefix in prefixes:
        if _installed.get(prefix) == count:
            continue
        names = [
            name
            for name in list(manager.loggerDict)
            if name == prefix or name.startswith(prefix + ".")
        ]
        for name in [prefix, *names]:
            logger = logging.getLogger(name)
            if not any(isinstance(f, MaskNumbers) for f in logger.filters):
                logger.addFilter(MaskNumbers())
        _installed[prefix] = len(manager.loggerDict)
