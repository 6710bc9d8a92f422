"""What a provider answered, as the provider layer reads it: accepted, or a fault."""

from __future__ import annotations

from dataclasses import dataclass

from sms.exceptions import OutcomeUnknown, RecipientRejected, SmsSendError


def status_for(error: SmsSendError) -> str:
    """Return the ``RecipientResult.status`` word recorded for ``error``."""
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, RecipientRejected):
        return "rejected"
    return "failed"


@dataclass(frozen=True)
class Fault:
    """What a provider said when it refused a request: HTTP status, code, text.

    ``fallback`` is the class for a code missing from ``error_classes`` when
    the HTTP status cannot tell (an SDK that hides it). ``retry_after`` is the
    answer's ``Retry-After`` header, as given.
    """

    status: int | None
    code: str | int | None
    detail: str | None
    fallback: type[SmsSendError] | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class Accepted:
    """What a provider said when it took the SMS for one recipient."""

    message_id: str | None
    status: str | None = None
