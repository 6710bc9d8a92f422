"""A registry of recipient checks that provider backends ask before sending.

``sms`` knows nothing of the apps installed around it, so an app that keeps a
list of numbers not to text (the outbox's suppression list) registers a check
here, and a backend asks ``refused_recipients()`` once per batch of numbers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable

from sms.exceptions import SmsSendError

__all__ = [
    "recipients_checked",
    "refused_recipients",
    "register_recipient_check",
    "unregister_recipient_check",
]

#: A check takes a list of E.164 numbers and returns the refused ones, each
#: with the error to report for it (a ``RecipientOptedOut``, say).
RecipientCheck = Callable[[list[str]], dict[str, SmsSendError]]

_checks: list[RecipientCheck] = []
_already_checked = contextvars.ContextVar("sms_recipients_checked", default=False)


def register_recipient_check(check: RecipientCheck) -> RecipientCheck:
    """Add ``check`` to the checks every direct send runs; return it.

    Registering the same function twice keeps one copy, so an app's
    ``ready()`` that runs again (in tests) does not double the queries.
    """
    if check not in _checks:
        _checks.append(check)
    return check


def unregister_recipient_check(check: RecipientCheck) -> None:
    """Remove ``check`` if it is registered."""
    with contextlib.suppress(ValueError):
        _checks.remove(check)


def refused_recipients(numbers: Iterable[str]) -> dict[str, SmsSendError]:
    """Return the numbers among ``numbers`` that must not be texted, with why.

    Each registered check runs once for the numbers no earlier check refused.
    Inside ``recipients_checked()`` nothing runs: the caller checked already.
    """
    if _already_checked.get() or not _checks:
        return {}
    pending = list(dict.fromkeys(numbers))
    refused: dict[str, SmsSendError] = {}
    for check in list(_checks):
        if not pending:
            break
        refused.update(check(pending))
        pending = [number for number in pending if number not in refused]
    return refused


class recipients_checked:
    """Skip the checks for sends inside this block, in this thread.

    For a caller that ran them itself for a whole batch (the outbox drain runs
    one query per claim), so the backend does not repeat them per message. A
    class with a lowercase name, used as ``with recipients_checked():``; the
    drain enters it once per message, and a class costs less than a
    generator-based context manager.
    """

    def __enter__(self) -> None:
        self._token = _already_checked.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _already_checked.reset(self._token)
