"""Quiet hours: hold an SMS due inside the window until it ends where the recipient is.

``SMS_OUTBOX_QUIET_HOURS`` names a window such as 21:00 to 08:00, for every
SMS or per country, number prefix or kind. A row is given its release time
when it is queued (``QueuedSmsBackend``) and again each time the retry
policy puts it back (``drain.policy.decide()``): an SMS due inside the window
is due again when the window ends in the recipient's local time. The time
zones come from the number (``phonenumbers.timezone.time_zones_for_number``);
a number that spans several zones (a US area code, an Australian mobile) is
held until a time that lies outside the window in all of them. Urgent kinds
(``SMS_OUTBOX_URGENT_KINDS``, one-time codes) are never held, and releases
are spread over ``SMS_OUTBOX_QUIET_HOURS_SPREAD`` seconds, each row at an
offset fixed by its reference, so the end of a window is not one spike.
"""

from __future__ import annotations

import datetime
import hashlib
import zoneinfo
from typing import Any, Protocol

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils import timezone

from sms import phone
from sms.exceptions import SmsConfigurationError
from sms_outbox.conf import get_setting

__all__ = [
    "Scheduled",
    "check_quiet_hours",
    "check_time_zone",
    "quiet_window",
    "release_time",
    "time_zones",
]

Window = tuple[datetime.time, datetime.time]


class Scheduled(Protocol):
    """What quiet hours need to know of a row (``drain.claims.ClaimedRow``)."""

    @property
    def recipient(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def time_zone(self) -> str: ...


_UNKNOWN_ZONE = "Etc/Unknown"
#: How far ahead to look for a time outside the window in every zone.
_HORIZON = datetime.timedelta(days=3)
_FORMAT_HINT = (
    'a ("21:00", "08:00") pair for every SMS, or a dict whose keys are "*", '
    'an ISO country code ("GB"), a number prefix ("+1808") or "kind:<kind>" '
    '("kind:marketing") and whose values are such pairs or None (no window)'
)


def release_time(
    recipient: str,
    kind: str,
    due: datetime.datetime,
    reference: str = "",
    time_zone: str = "",
) -> datetime.datetime:
    """Return when an SMS to ``recipient`` due at ``due`` may go out.

    ``due`` itself, unless it falls inside the quiet window that applies to
    the number and ``kind`` in one of the recipient's time zones (or in
    ``time_zone``, when the message named one); then the first time after
    it that lies outside the window in every zone, plus the row's share of
    the spread, fixed by ``reference``.
    """
    window = quiet_window(recipient, kind)
    if window is None:
        return due
    aware = due if timezone.is_aware(due) else timezone.make_aware(due)
    release = _first_free(aware, time_zones(recipient, time_zone), window)
    if release == aware:
        return due
    release += datetime.timedelta(seconds=_spread(reference))
    return release if timezone.is_aware(due) else timezone.make_naive(release)


def quiet_window(recipient: str, kind: str = "") -> Window | None:
    """Return the (start, end) quiet window for ``recipient`` and ``kind``, or None.

    An urgent kind has none. Otherwise the first key of
    ``SMS_OUTBOX_QUIET_HOURS`` that applies wins: ``"kind:<kind>"``, the
    longest number prefix, the recipient's country (with the
    ``phonenumbers`` extra), then ``"*"``.
    """
    value = get_setting("SMS_OUTBOX_QUIET_HOURS")
    if not value or kind in _urgent_kinds():
        return None
    if not isinstance(value, dict):
        return _window("*", value)
    # Every entry is checked, so a mistake shows on the first SMS, not on the
    # first one its key would apply to.
    windows = {key: _window(key, window) for key, window in value.items()}
    key = f"kind:{kind}"
    if kind and key in windows:
        return windows[key]
    prefixes = [k for k in windows if k.startswith("+") and recipient.startswith(k)]
    if prefixes:
        return windows[max(prefixes, key=len)]
    country = phone.country_of(recipient)
    if country is not None and country in windows:
        return windows[country]
    return windows.get("*")


def time_zones(recipient: str, time_zone: str = "") -> list[zoneinfo.ZoneInfo]:
    """Return the time zones quiet hours are judged in for ``recipient``.

    ``time_zone`` when given; else the zones ``phonenumbers`` knows for the
    number; else (no ``phonenumbers``, or a number it cannot place) the
    site's ``TIME_ZONE``.
    """
    if time_zone:
        return [zoneinfo.ZoneInfo(time_zone)]
    names: list[str] = []
    if phone.phonenumbers is not None:
        from phonenumbers import timezone as zones

        try:
            parsed = phone.phonenumbers.parse(recipient, None)
        except phone.phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None:
            names = [n for n in zones.time_zones_for_number(parsed) if _known(n)]
    if not names:
        names = [settings.TIME_ZONE or "UTC"]
    return [zoneinfo.ZoneInfo(name) for name in names]


def check_time_zone(time_zone: object) -> str:
    """Return ``time_zone`` if it is "" or an IANA zone name, else raise."""
    if time_zone == "":
        return ""
    if isinstance(time_zone, str) and _known(time_zone):
        return time_zone
    raise ValueError(
        f"time_zone {time_zone!r} is not a time zone this system knows: pass an "
        'IANA name such as "Europe/London", or "" to take it from the number.'
    )


def check_quiet_hours(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check ``SMS_OUTBOX_QUIET_HOURS``: valid, and able to place numbers."""
    value = get_setting("SMS_OUTBOX_QUIET_HOURS")
    if not value:
        return []
    try:
        for key, window in value.items() if isinstance(value, dict) else [("*", value)]:
            _window(key, window)
        _spread("")
    except SmsConfigurationError as err:
        return [
            Error(
                str(err),
                hint="Fix SMS_OUTBOX_QUIET_HOURS (docs/quiet-hours.md).",
                id="sms_outbox.E020",
            )
        ]
    if phone.phonenumbers is None:
        return [
            Warning(
                "SMS_OUTBOX_QUIET_HOURS is set but the phonenumbers package is "
                "not installed: quiet hours are judged in the site's TIME_ZONE "
                "for every number, and per-country keys never apply.",
                hint='pip install "django-sms[phonenumbers]".',
                id="sms_outbox.W020",
            )
        ]
    return []


def _first_free(
    start: datetime.datetime, zones: list[zoneinfo.ZoneInfo], window: Window
) -> datetime.datetime:
    """Return the first time from ``start`` outside ``window`` in all ``zones``.

    When the zones share no such time within a few days (their local days
    are too far apart for the window), wait for the window to end in each of
    them, that is, until the latest of the window ends.
    """
    moment = start
    while moment < start + _HORIZON:
        quiet = [zone for zone in zones if _is_quiet(moment, zone, window)]
        if not quiet:
            return moment
        moment = max(_window_end(moment, zone, window) for zone in quiet)
    return max(_window_end(start, zone, window) for zone in zones)


def _is_quiet(
    moment: datetime.datetime, zone: zoneinfo.ZoneInfo, window: Window
) -> bool:
    start, end = window
    local = moment.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _window_end(
    moment: datetime.datetime, zone: zoneinfo.ZoneInfo, window: Window
) -> datetime.datetime:
    """Return when the window ``moment`` is in ends in ``zone`` (``moment`` if none)."""
    if not _is_quiet(moment, zone, window):
        return moment
    local = moment.astimezone(zone)
    day = local.date()
    if local.time() >= window[1]:
        day += datetime.timedelta(days=1)
    # The wall-clock end in that zone on that day, whatever its UTC offset
    # is then (daylight saving time may begin or end inside the window).
    end = datetime.datetime.combine(day, window[1], tzinfo=zone)
    return end.astimezone(datetime.timezone.utc)


def _spread(reference: str) -> float:
    """Return this row's offset into the release spread, in seconds."""
    spread = get_setting("SMS_OUTBOX_QUIET_HOURS_SPREAD")
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or spread < 0:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_QUIET_HOURS_SPREAD is {spread!r}: set it to the seconds "
            "over which releases at the end of quiet hours are spread, such as 300."
        )
    if not spread:
        return 0.0
    digest = int(hashlib.sha256(reference.encode()).hexdigest()[:12], 16)
    return digest % int(spread * 1000) / 1000


def _urgent_kinds() -> tuple[str, ...]:
    kinds = get_setting("SMS_OUTBOX_URGENT_KINDS")
    if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds or ()):
        raise SmsConfigurationError(
            f"SMS_OUTBOX_URGENT_KINDS is {kinds!r}: set it to a tuple of kinds "
            'that bypass quiet hours, such as ("otp",).'
        )
    return tuple(kinds or ())


def _window(key: object, value: object) -> Window | None:
    """Return the window ``value`` of ``SMS_OUTBOX_QUIET_HOURS[key]``, or raise."""
    if value is None:
        return None
    valid_key = isinstance(key, str) and (
        key == "*"
        or key.startswith("kind:")
        or (key.startswith("+") and key[1:].isdigit())
        or (len(key) == 2 and key.isalpha() and key.isupper())
    )
    times = []
    if valid_key and isinstance(value, (tuple, list)) and len(value) == 2:
        times = [_time(item) for item in value]
    if len(times) != 2 or None in times or times[0] == times[1]:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_QUIET_HOURS has {key!r}: {value!r}: set it to "
            f"{_FORMAT_HINT}; a window's start and end must differ."
        )
    start, end = times
    assert start is not None and end is not None
    return start, end


def _time(value: object) -> datetime.time | None:
    if isinstance(value, datetime.time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.time.fromisoformat(value)
        except ValueError:
            return None
    return None


def _known(name: str) -> bool:
    if name == _UNKNOWN_ZONE:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
