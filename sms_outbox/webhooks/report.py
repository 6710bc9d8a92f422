"""The provider-neutral delivery report that the parsers build and record() applies."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sms.exceptions import InvalidPhoneNumber
from sms.phone import normalize_phone_number

#: The order statuses move in. Providers deliver callbacks out of order; without
#: a timestamp from the provider a report only counts if it ranks higher.
STATUS_RANK = {
    "queued": 0,
    "sent": 1,
    "delivered": 2,
    "undelivered": 2,
    "failed": 2,
    "expired": 2,
}

# Longest value each model field takes; longer input is cut, never rejected by
# the database halfway through a transaction.
_MAX_RAW = 32


@dataclass(frozen=True)
class DeliveryReport:
    """One status report for one recipient of one message.

    ``status`` is the normalised status (a ``Message.DeliveryStatus`` value) or
    ``None`` when the provider sent a status this library does not know;
    ``timestamp`` is the provider's own time of the status, when it gives one.
    ``opted_out`` says the provider refused the SMS because the recipient
    opted out (its ``error_code`` is one of the provider's opt-out codes).
    """

    provider: str
    message_id: str
    status: str | None
    raw_status: str
    recipient: str = ""
    reference: str = ""
    error_code: str = ""
    reason: str = ""
    timestamp: datetime.datetime | None = None
    opted_out: bool = False

    @property
    def rank(self) -> int:
        """Return how far along the delivery this report's status is."""
        return STATUS_RANK.get(self.status or "", -1)


def get_field(
    data: QueryDict, name: str, *, required: bool = False, max_length: int = 0
) -> str:
    """Return the single value of field ``name`` in ``data``, stripped.

    Raise ``BadRequest`` (HTTP 400) when a required field is missing or empty,
    when the field is repeated, or when it holds a NUL character (which no
    database column accepts). ``max_length`` cuts over-long free text.
    """
    values = data.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"The field {name!r} is repeated.")
    value = str(values[0]).strip() if values else ""
    if "\x00" in value:
        raise BadRequest(f"The field {name!r} holds a NUL character.")
    if required and not value:
        raise BadRequest(f"The field {name!r} is missing.")
    return value[:max_length] if max_length else value


def get_raw_status(data: QueryDict, name: str) -> str:
    """Return the provider's status field, lower-cased and at most 32 characters."""
    return get_field(data, name, required=True, max_length=_MAX_RAW).lower()


def get_recipient(data: QueryDict, name: str, *, required: bool) -> str:
    """Return the recipient field in E.164, adding the ``+`` MessageBird leaves out.

    Raise ``BadRequest`` when it is present but not a phone number.
    """
    value = get_field(data, name, required=required)
    if not value:
        return ""
    if value[0].isdigit():
        value = "+" + value
    try:
        return normalize_phone_number(value)
    except InvalidPhoneNumber as err:
        raise BadRequest(f"The field {name!r} is not a phone number.") from err


def get_timestamp(data: QueryDict, name: str) -> datetime.datetime | None:
    """Return the ISO 8601 time in field ``name``, aware, or ``None`` if absent.

    A time without an offset is taken as UTC. Raise ``BadRequest`` when the
    value is not a date and time.
    """
    value = get_field(data, name)
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError as err:  # well-formed but out of range, e.g. month 13
        raise BadRequest(f"The field {name!r} is not a valid time.") from err
    if parsed is None:
        raise BadRequest(f"The field {name!r} is not an ISO 8601 time.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    try:
        parsed = parsed.astimezone(datetime.timezone.utc)
    except OverflowError as err:  # e.g. year 1 with a positive offset
        raise BadRequest(f"The field {name!r} is out of range.") from err
    if not settings.USE_TZ:
        parsed = timezone.make_naive(parsed)
    return parsed
