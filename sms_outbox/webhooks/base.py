"""What every webhook endpoint shares: signatures, the size limit, replies, fields.

The provider modules (``twilio``, ``messagebird``, ``vonage``, ``aws``) each
hold their signature check, parsers and views over these helpers.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sms.exceptions import InvalidPhoneNumber, SmsConfigurationError
from sms.phone import normalize_phone_number
from sms.providers import is_alias
from sms.providers import option as provider_option
from sms_outbox.conf import get_setting

logger = logging.getLogger(__name__)

#: The largest webhook body taken. A concatenated SMS or a status report is
#: at most a few kilobytes even with every field a provider adds.
MAX_BODY_BYTES = 64 * 1024

#: How far ahead of our clock a provider's timestamp may be. Clocks drift a
#: little; a status "from the future" would outrank every real later report,
#: and an opt-out keyword from the future every later keyword.
MAX_CLOCK_AHEAD = datetime.timedelta(minutes=15)

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

#: The statuses a message never leaves for a non-final one: the carrier is done.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "expired"})

# Longest value each model field takes; longer input is cut, never rejected by
# the database halfway through a transaction.
_MAX_RAW = 32

_View = Callable[..., HttpResponse]


@dataclass(frozen=True)
class DeliveryReport:
    """One status report for one recipient of one message.

    ``status`` is the normalised status (a ``Message.DeliveryStatus`` value) or
    ``None`` when the provider sent a status this library does not know;
    ``timestamp`` is the provider's own time of the status, when it gives one.
    ``opted_out`` says the provider refused the SMS because the recipient
    opted out (its ``error_code`` is one of the provider's opt-out codes).
    ``alias`` is the ``SMS_PROVIDERS`` alias whose URL the report came to
    ("" for the provider's shared URL): only rows that alias sent match.
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
    alias: str = ""

    @property
    def rank(self) -> int:
        """Return how far along the delivery this report's status is."""
        return STATUS_RANK.get(self.status or "", -1)


def get_public_url(request: HttpRequest) -> str:
    """Return the URL the provider called: scheme, host, path and query string.

    ``SMS_WEBHOOK_BASE_URL`` (``https://sms.example.com``) pins the scheme and
    host when the proxy in front of Django rewrites them; otherwise Django's
    ``build_absolute_uri()`` applies, which honours ``SECURE_PROXY_SSL_HEADER``
    and ``USE_X_FORWARDED_HOST``.
    """
    base = get_setting("SMS_WEBHOOK_BASE_URL")
    if not base:
        return request.build_absolute_uri()
    parts = urlsplit(base)
    # A path would be dropped here (the request's own path follows the host),
    # and every signature would then fail: refuse it instead.
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SmsConfigurationError(
            f"SMS_WEBHOOK_BASE_URL is {base!r}: set it to the scheme and host the "
            "providers call, such as 'https://sms.example.com'."
        )
    return f"{parts.scheme}://{parts.netloc}{request.get_full_path()}"


def require_secret(name: str, needed_for: str = "verify webhooks") -> str:
    """Return the signing secret setting ``name``; raise if it is not set."""
    value: str | None = get_setting(name)
    if not value:
        raise SmsConfigurationError(
            f"{name} is not set, and it is needed to {needed_for} (delivery "
            f"receipts, inbound SMS). Set {name} in your settings."
        )
    return value


def secret_for(alias: str | None, option: str, setting: str) -> str:
    """Return the secret that verifies a webhook for ``alias``.

    A URL without an alias uses the setting ``setting``; one with an alias
    of ``SMS_PROVIDERS`` uses that alias's OPTIONS[``option``], so each of
    two accounts of one provider is checked with its own secret. An alias
    ``SMS_PROVIDERS`` lacks is a 404.
    """
    if alias is None:
        return require_secret(setting)
    if not is_alias(alias):
        raise Http404("No such SMS provider alias.")
    value: str | None = provider_option(alias, option)
    if not value:
        raise SmsConfigurationError(
            f"SMS_PROVIDERS[{alias!r}]['OPTIONS'] has no {option!r}, and it is "
            f"needed to verify the webhooks sent to this alias's URL: add it."
        )
    return value


def webhook_endpoint(provider: str, what: str) -> Callable[[_View], _View]:
    """Wrap a webhook view: refuse big bodies (413), turn ``BadRequest`` into 400.

    ``what`` names the request in log lines ("status callback", "inbound
    SMS"). The size is checked before the signature or anything else reads
    the body.
    """

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0:
                return HttpResponseBadRequest(
                    "The Content-Length header is not a number.",
                    content_type="text/plain",
                )
            if length > MAX_BODY_BYTES:
                logger.warning(
                    "Refused a %d-byte %s %s (limit %d).",
                    length,
                    provider,
                    what,
                    MAX_BODY_BYTES,
                )
                return HttpResponse(
                    f"The body is over {MAX_BODY_BYTES} bytes: not an SMS webhook.",
                    status=413,
                    content_type="text/plain",
                )
            try:
                return view(request, **kwargs)
            except BadRequest as err:
                logger.warning("Refused a malformed %s %s: %s", provider, what, err)
                return HttpResponseBadRequest(str(err), content_type="text/plain")

        return wrapper

    return decorate


def get_fields(request: HttpRequest) -> QueryDict:
    """Return a webhook's fields: the query string, plus the body of a POST.

    MessageBird and Vonage send a GET with query parameters, or a POST whose
    body is form-encoded or a JSON object. Raise ``BadRequest`` for a body
    that is neither.
    """
    fields = request.GET.copy()
    if request.method != "POST":
        return fields
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError) as err:
            raise BadRequest("The body is not JSON.") from err
        if not isinstance(body, dict):
            raise BadRequest("The JSON body is not an object.")
        items: Iterable[tuple[str, Any]] = body.items()
    else:
        items = request.POST.lists()
    for name, value in items:
        values = value if isinstance(value, list) else [value]
        # Objects (price, ...) are not needed; keep scalars only.
        fields.setlist(
            name, [str(v) for v in values if isinstance(v, str | int | float)]
        )
    return fields


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


def get_body(data: QueryDict, *names: str) -> str:
    """Return the message text in the first of ``names`` present, as sent.

    Unlike the other fields it is not stripped. Raise ``BadRequest`` when the
    field is repeated or holds a NUL character (no database column takes it).
    """
    for name in names:
        values = data.getlist(name)
        if not values:
            continue
        if len(values) > 1:
            raise BadRequest(f"The field {name!r} is repeated.")
        if "\x00" in values[0]:
            raise BadRequest(f"The field {name!r} holds a NUL character.")
        return str(values[0])
    return ""


def get_message_id(data: QueryDict, *names: str) -> str:
    """Return the provider's message id in the first of ``names`` that is set.

    Raise ``BadRequest`` when none is, or when it is longer than the 64
    characters the column takes.
    """
    value = ""
    for name in names:
        value = get_field(data, name)
        if value:
            break
    if not value:
        raise BadRequest(f"The field {names[0]!r} is missing.")
    if len(value) > 64:
        raise BadRequest(f"The field {names[0]!r} is longer than 64 characters.")
    return value


def get_raw_status(data: QueryDict, name: str) -> str:
    """Return the provider's status field, lower-cased and at most 32 characters."""
    return get_field(data, name, required=True, max_length=_MAX_RAW).lower()


def get_recipient(data: QueryDict, name: str, *, required: bool) -> str:
    """Return the phone number field in E.164, adding the ``+`` some leave out.

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
    value is not a date and time, or is later than ``MAX_CLOCK_AHEAD`` from now.
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
    return check_timestamp(parsed, name)


def check_timestamp(value: datetime.datetime, name: str) -> datetime.datetime:
    """Return the provider's time ``value`` in UTC, naive if ``USE_TZ`` is off.

    A naive ``value`` is taken as UTC. Raise ``BadRequest`` when it is more
    than ``MAX_CLOCK_AHEAD`` ahead of our clock: no provider reports the future.
    """
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.timezone.utc)
    try:
        value = value.astimezone(datetime.timezone.utc)
    except OverflowError as err:  # e.g. year 1 with a positive offset
        raise BadRequest(f"The field {name!r} is out of range.") from err
    now = datetime.datetime.now(datetime.timezone.utc)
    if value > now + MAX_CLOCK_AHEAD:
        raise BadRequest(
            f"The field {name!r} is in the future: more than "
            f"{int(MAX_CLOCK_AHEAD.total_seconds() // 60)} minutes ahead of this "
            "server's clock. Check the clocks of both sides."
        )
    if not settings.USE_TZ:
        value = timezone.make_naive(value)
    return value
