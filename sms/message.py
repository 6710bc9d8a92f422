"""The ``Message`` class: one SMS body from one originator to some recipients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sms.conf import get_setting
from sms.dispatch import send_and_signal
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
    SmsSendError,
)
from sms.phone import mask_phone_number
from sms.segments import count_segments, get_encoding

if TYPE_CHECKING:
    from sms.backends.base import BaseSmsBackend

__all__ = ["Message", "RecipientResult"]

_REPR_BODY_CHARS = 20

# NUL and lone surrogates: no provider takes them, and PostgreSQL (NUL) or
# UTF-8 itself (surrogates) cannot store them.
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")


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
        connection: BaseSmsBackend | None = None,
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
        """Raise ``MessageTooLong`` if the body exceeds ``SMS_MAX_SEGMENTS``."""
        _check_body_type(self.body)
        limit = get_setting("SMS_MAX_SEGMENTS")
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

    def get_connection(self, fail_silently: bool = False) -> BaseSmsBackend:
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
