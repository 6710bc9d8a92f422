"""What every inbound-SMS endpoint does around its parser: size limit, 400s."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

logger = logging.getLogger(__name__)

#: The largest inbound webhook body taken. A concatenated SMS is at most a few
#: kilobytes even with every field a provider adds; more is not an SMS.
MAX_BODY_BYTES = 64 * 1024


_View = Callable[[HttpRequest], HttpResponse]


def inbound_endpoint(provider: str) -> Callable[[_View], _View]:
    """Wrap an inbound view: refuse big bodies (413), turn ``BadRequest`` into 400.

    The size is checked before the signature or anything else reads the body.
    """

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest) -> HttpResponse:
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
                    "Refused a %d-byte %s inbound SMS webhook (limit %d).",
                    length,
                    provider,
                    MAX_BODY_BYTES,
                )
                return HttpResponse(
                    f"The body is over {MAX_BODY_BYTES} bytes: not an SMS.",
                    status=413,
                    content_type="text/plain",
                )
            try:
                return view(request)
            except BadRequest as err:
                logger.warning("Refused a malformed %s inbound SMS: %s", provider, err)
                return HttpResponseBadRequest(str(err), content_type="text/plain")

        return wrapper

    return decorate


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
