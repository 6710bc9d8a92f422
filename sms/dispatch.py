"""Check, send and signal a list of messages: what sending always does.

``send_sms()``, ``send_mass_sms()`` and ``Message.send()`` all end here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sms.exceptions import SmsError
from sms.guards import guard_sends
from sms.signals import post_send

if TYPE_CHECKING:
    from sms.backends.base import BaseSmsBackend
    from sms.message import Message

__all__ = ["send_and_signal"]

# The logger this warning has always come from, which sites route in LOGGING.
logger = logging.getLogger("sms.message")


def _within_length(messages: list[Message], fail_silently: bool) -> list[Message]:
    """Return the messages within ``SMS_MAX_SEGMENTS``; raise unless silent."""
    kept = []
    for message in messages:
        try:
            message.check_length()
        except SmsError:
            if not fail_silently:
                raise
        else:
            kept.append(message)
    return kept


def send_and_signal(
    connection: BaseSmsBackend, messages: list[Message], fail_silently: bool = False
) -> int:
    """Check, send and signal: what ``send_sms()`` and ``Message.send()`` do.

    Messages over ``SMS_MAX_SEGMENTS`` raise ``MessageTooLong`` before anything
    is sent, or are skipped when sending is silent. Installed send guards
    (``sms.guards``) may refuse messages to a delivering backend the same
    way (``SendRefused``). Then ``connection``'s
    ``send_messages()`` sends the rest and ``post_send`` fires for each one
    sent. Sending is silent when the caller passed ``fail_silently`` or the
    connection was built with it: one flag, read once here.

    A message counts as sent when the backend recorded no error for any of its
    recipients (or, for a backend that records no results, when it reported the
    whole list sent). Backends that only queue (``delivers = False``) fire
    nothing here: the queue fires ``post_send`` when it delivers.

    A backend built with ``fail_silently=True`` should swallow its own
    ``SmsError``; one that lets it escape anyway (a custom backend written for
    0.7.0, say) has it swallowed here, and only the messages it recorded as
    accepted for every recipient count.
    """
    silent = fail_silently or bool(getattr(connection, "fail_silently", False))
    messages = _within_length(messages, silent)
    if not messages:
        return 0
    for message in messages:
        message.results = []
    if getattr(connection, "delivers", True):
        # Installed send guards (SMS_GUARDS) refuse before a provider is paid;
        # a backend that only queues guards its own enqueue.
        messages = guard_sends(messages, silent)
        if not messages:
            return 0
    count = _send_unless_silenced(connection, messages, silent)
    if not getattr(connection, "delivers", True):
        return count or 0
    sent_count = _signal_sent(messages, count)
    return sent_count if count is None else count


def _send_unless_silenced(
    connection: BaseSmsBackend, messages: list[Message], silent: bool
) -> int | None:
    """Return what the backend's ``send_messages()`` returned.

    When sending is silent, an ``SmsError`` that escapes the backend anyway is
    logged and swallowed, and None says the backend gave no count.
    """
    try:
        return connection.send_messages(messages)
    except SmsError as err:
        if not silent:
            raise
        logger.warning(
            "%s failed silently: %s", type(connection).__name__, err, exc_info=True
        )
        return None


def _signal_sent(messages: list[Message], count: int | None) -> int:
    """Fire ``post_send`` for each message sent; return how many were.

    A message is sent when every recipient's result is ok, or, with no
    results recorded, when the backend's ``count`` covered the whole list.
    """
    sent_count = 0
    for message in messages:
        if message.results:
            sent = all(result.ok for result in message.results)
        else:
            sent = count is not None and count >= len(messages)
        if sent:
            sent_count += 1
            post_send.send(sender=type(message), instance=message)
    return sent_count
