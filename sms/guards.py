"""A registry of send guards that direct sends ask before a provider is paid.

``sms`` knows nothing of the apps around it, so an app that guards sends
(the outbox's ``SMS_GUARDS``: geo permissions, velocity limits, spend caps)
registers a guard here, and ``send_sms()``, ``send_mass_sms()`` and
``Message.send()`` ask it before a backend that delivers is called. Backends
that only queue (``delivers = False``) guard their own enqueue instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["guard_sends", "register_send_guard", "unregister_send_guard"]

#: A guard takes the messages (``sms.Message``; typed ``Any``, since
#: ``sms.message`` imports this module) about to be sent and whether sending
#: is silent,
#: and returns the messages it lets through. It raises ``SendRefused`` for a
#: refused message unless sending is silent; then it records the refusal on
#: the message's ``results`` and leaves the message out.
SendGuard = Callable[[list[Any], bool], list[Any]]

_guards: list[SendGuard] = []


def register_send_guard(guard: SendGuard) -> SendGuard:
    """Add ``guard`` to the guards every direct send asks; return it.

    Registering the same function twice keeps one copy.
    """
    if guard not in _guards:
        _guards.append(guard)
    return guard


def unregister_send_guard(guard: SendGuard) -> None:
    """Remove ``guard`` if it is registered."""
    with contextlib.suppress(ValueError):
        _guards.remove(guard)


def guard_sends(messages: list[Any], fail_silently: bool) -> list[Any]:
    """Return the messages every registered guard lets through, in order."""
    for guard in list(_guards):
        if not messages:
            break
        messages = guard(messages, fail_silently)
    return messages
