"""Base SMS backend class: the contract every backend honours."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sms.message import Message


class BaseSmsBackend:
    """Base class for SMS backend implementations.

    Subclasses must at least override ``send_messages()``. A backend with a
    long-lived connection also overrides ``open()`` and ``close()``; both can be
    called through the backend used as a context manager::

        with backend as connection:
            connection.send_messages(messages)

    Contract: ``send_messages()`` returns the number of ``Message`` objects sent
    to every recipient, returns 0 for an empty list without opening anything,
    closes only a connection it opened itself, records ``message.results``
    and changes nothing else on the caller's messages. With
    ``fail_silently=True`` it swallows ``SmsError`` (and nothing else) and does
    not count the message that failed.
    """

    #: False for a backend that only stores messages for later delivery, such
    #: as the outbox: ``post_send`` then fires when they are delivered.
    delivers = True

    #: Settings a deployment must define to use this backend through
    #: ``SMS_BACKEND``; the system check reports any that are missing.
    required_settings: tuple[str, ...] = ()

    #: The ``SMS_PROVIDERS`` alias this backend was built from ("" for a
    #: dotted path), and that alias's default sender (``sms.providers``).
    alias = ""
    default_from = ""

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    def open(self) -> bool | None:
        """Open a long-lived connection; return True only if this call opened it.

        The default implementation does nothing.
        """
        return None

    def close(self) -> None:
        """Close the connection opened by ``open()``, if any."""

    def __enter__(self) -> BaseSmsBackend:
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_messages(self, messages: list[Message]) -> int:
        """Send ``messages`` and return the number sent to every recipient."""
        raise NotImplementedError(
            "subclasses of BaseSmsBackend must override send_messages() method"
        )
