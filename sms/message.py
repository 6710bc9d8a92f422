"""The ``Message`` class, and what sending one always does: check, send, signal.

``send_sms()``, ``send_mass_sms()`` and ``Message.send()`` all end in
``send_and_signal()``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from sms.conf import DEFAULTS, get_setting, raw_setting
from sms.encoding import (
    Preview,
    Replacement,
    preview,
    smart_encode,
    smart_encoding_enabled,
)
from sms.exceptions import (
    InvalidMessage,
    MessageTooLong,
    SmsConfigurationError,
    SmsError,
    SmsSendError,
)
from sms.guards import guard_sends
from sms.phone import mask_phone_number
from sms.segments import count_segments, get_encoding
from sms.signals import post_send

__all__ = ["Connection", "Message", "RecipientResult", "send_and_signal"]

# The logger of the "failed silently" warning, which sites route in LOGGING.
logger = logging.getLogger(__name__)

_REPR_BODY_CHARS = 20

# NUL and lone surrogates: no provider takes them, and PostgreSQL (NUL) or
# UTF-8 itself (surrogates) cannot store them.
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")
# Characters that show nothing: format characters (category Cf: U+200B zero
# width space, U+200D joiner, U+2060 word joiner, U+FEFF), controls, and the
# blank letters and fillers some scripts have.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0\u034f\u180e")
_UNSET = object()


@dataclass
class RecipientResult:
    """What happened to a message for one recipient, as a backend recorded it.

    ``recipient`` is the number as sent, ``message_id`` the provider's id (or
    None), ``status`` the provider's word for the outcome, and ``error`` the
    ``SmsSendError`` that stopped it, or None when the provider accepted it.
    """

    recipient: str
    message_id: str | None = None
    status: str = "sent"
    error: SmsSendError | None = None

    @property
    def ok(self) -> bool:
        """Return True when the provider accepted the message for this recipient."""
        return self.error is None


class Connection(Protocol):
    """What a message needs of its connection: every ``BaseSmsBackend`` has it.

    ``sms.backends.base`` builds on ``Message``; the message only needs a
    connection's ``send_messages()``, so it names that instead of the base.
    """

    def send_messages(self, messages: list[Message]) -> int:
        """Send ``messages`` and return the number sent to every recipient."""
        ...


class Message:
    """A text message: one body from one originator to a list of recipients.

    Every argument is optional and may be set at any time before ``send()``.
    Numbers are kept as given; backends that hand them to a provider, and the
    outbox, validate and normalise them. After sending, ``results`` holds one
    ``RecipientResult`` per recipient, in recipient order.
    """

    def __init__(
        self,
        body: str = "",
        originator: str | None = None,
        recipients: list[str] | tuple[str, ...] | None = None,
        connection: Connection | None = None,
        *,
        kind: str = "",
    ) -> None:
        if isinstance(recipients, str):
            raise TypeError('"recipients" argument must be a list or tuple')
        _check_body_type(body, allow_none=True)
        self.body = body or ""
        self.originator = originator or get_setting("DEFAULT_FROM_SMS") or ""
        self.recipients = list(recipients) if recipients else []
        self.connection = connection
        #: An id of the caller's that providers echo in delivery reports
        #: (MessageBird ``reference``); None lets the backend choose.
        self.reference: str | None = None
        #: What the message is for, in a word of the site's choosing (``"otp"``,
        #: ``"marketing"``): the outbox stores it, and its settings can treat
        #: kinds differently. At most 32 characters.
        self.kind = _check_kind(kind)
        self.results: list[RecipientResult] = []

    #: Replace look-alike characters (curly quotes, dashes) with GSM-7 ones
    #: when the whole body then fits GSM-7: True or False override
    #: ``SMS_SMART_ENCODING`` for this message, None follows it.
    smart_encoding: bool | None = None

    def __repr__(self) -> str:
        body = self.body
        if len(body) > _REPR_BODY_CHARS:
            body = body[:_REPR_BODY_CHARS] + "…"
        recipients = [mask_phone_number(r) for r in self.recipients[:3]]
        more = f" +{len(self.recipients) - 3}" if len(self.recipients) > 3 else ""
        return f"<Message to {recipients}{more} body={body!r}>"

    @property
    def encoding(self) -> str:
        """Return ``"GSM-7"`` or ``"UCS-2"``, the encoding the body needs."""
        return get_encoding(self.body)

    @property
    def segments(self) -> int:
        """Return the number of parts the body will be sent and billed as."""
        return count_segments(self.body)

    def check_length(self) -> None:
        """Raise ``MessageTooLong`` if the body exceeds ``SMS_MAX_SEGMENTS``.

        The setting is read now; absent, it is 10 parts, and set to None
        explicitly, there is no limit.
        """
        _check_body_type(self.body)
        limit = _segment_limit()
        if limit is None:
            return
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise SmsConfigurationError(
                f"SMS_MAX_SEGMENTS is {limit!r}: set it to a whole number of "
                "parts of at least 1, or to None for no limit."
            )
        segments = self.segments
        if segments > limit:
            raise MessageTooLong(
                f"The SMS body needs {segments} {self.encoding} parts but "
                f"SMS_MAX_SEGMENTS allows {limit}: shorten the body or raise "
                "the setting."
            )

    def check_body(self) -> None:
        """Raise ``InvalidMessage`` unless the body can go to a provider.

        Called where a message leaves the process (provider backends, the
        outbox); the development backends accept any body. A body that is not
        a ``str`` raises ``TypeError``: that is a bug in the caller, which
        ``fail_silently`` must not hide. A NUL character or a lone surrogate
        raises ``InvalidMessage``: no provider accepts them and some databases
        cannot store them (PostgreSQL refuses NUL in text, and a lone
        surrogate cannot be encoded as UTF-8).
        """
        _check_body_type(self.body)
        if not self.body.strip():
            raise InvalidMessage("The SMS body is empty: give the message some text.")
        if not any(_is_visible(char) for char in self.body):
            raise InvalidMessage(
                "The SMS body is empty: it holds only invisible characters "
                f"(such as U+{ord(self.body[0]):04X}), which show nothing on a "
                "phone. Give the message some visible text."
            )
        _check_characters(self.body)
        self.check_length()

    # Smart encoding and the preview (sms.encoding).

    def uses_smart_encoding(self) -> bool:
        """Return whether smart encoding applies (``smart_encoding`` or the setting)."""
        return smart_encoding_enabled(self.smart_encoding)

    def smart_encoded_body(self) -> tuple[str, tuple[Replacement, ...]]:
        """Return the body as it will be sent, and what smart encoding replaced.

        The body as written, and nothing replaced, when smart encoding is off
        or the body would not fit GSM-7 even after it.
        """
        if not self.uses_smart_encoding():
            return self.body, ()
        return smart_encode(self.body)

    def preview(self) -> Preview:
        """Return the encoding, parts, characters and estimated cost of the SMS.

        Smart encoding applies as it would when the message is queued; the
        cost is summed over the recipients from ``SMS_PRICES`` (None when a
        recipient has no price). Nothing is sent.
        """
        return preview(self.body, self.recipients, smart=self.uses_smart_encoding())

    def get_connection(self, fail_silently: bool = False) -> Connection:
        """Return the message's connection, creating the default one if unset."""
        from sms import get_connection

        if not self.connection:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message and return 1 if it went to every recipient, else 0."""
        if not self.recipients:
            # Don't bother creating the connection if there's nobody to send to.
            return 0
        return send_and_signal(
            self.get_connection(fail_silently), [self], fail_silently
        )


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or len(kind) > 32:
        raise TypeError(
            f"kind must be a string of at most 32 characters, such as 'otp', not "
            f"{kind!r}."
        )
    return kind


def _segment_limit() -> Any:
    """Return ``SMS_MAX_SEGMENTS``: its default when absent, None if set to None.

    ``get_setting()`` reads None as "not set"; here None is a choice (no
    limit), so the settings are asked whether the name is there at all.
    """
    value = raw_setting("SMS_MAX_SEGMENTS", _UNSET)
    return DEFAULTS["SMS_MAX_SEGMENTS"] if value is _UNSET else value


def _is_visible(char: str) -> bool:
    """Return True unless ``char`` shows nothing (space, format, filler)."""
    return (
        unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        and char not in _BLANK_LETTERS
    )


def _check_body_type(body: object, allow_none: bool = False) -> None:
    """Raise ``TypeError`` unless ``body`` is a ``str`` (or None, if allowed)."""
    if isinstance(body, str) or (allow_none and body is None):
        return
    hint = (
        " (decode bytes first, e.g. body.decode())" if isinstance(body, bytes) else ""
    )
    raise TypeError(
        f"The SMS body must be a str, not {type(body).__name__}: pass the text "
        f"to send{hint}."
    )


def _check_characters(body: str) -> None:
    """Raise ``InvalidMessage`` naming the first character no SMS can carry."""
    found = _UNSENDABLE.search(body)
    if found is None:
        return
    index, char = found.start(), found.group()
    if char == "\x00":
        what = "a NUL character (U+0000)"
    else:
        what = f"a lone surrogate (U+{ord(char):04X})"
    raise InvalidMessage(
        f"The SMS body contains {what} at index {index}, which cannot be "
        "sent or stored: remove it from the text."
    )


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
    connection: Connection, messages: list[Message], fail_silently: bool = False
) -> int:
    """Check, send and signal: what ``send_sms()`` and ``Message.send()`` do.

    Messages over ``SMS_MAX_SEGMENTS`` raise ``MessageTooLong`` before anything
    is sent, or are skipped when sending is silent. Installed send guards
    (``sms.guards``) may refuse messages to a delivering backend the same
    way (``SendRefused``). Then ``connection``'s ``send_messages()`` sends the
    rest and ``post_send`` fires for each one sent. Sending is silent when the
    caller passed ``fail_silently`` or the connection was built with it: one
    flag, read once here.

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
    connection: Connection, messages: list[Message], silent: bool
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
