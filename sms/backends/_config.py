"""Read a provider backend's settings: the keyword if given, else the setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError


def read_timeout(value: float | None) -> float:
    """Return the seconds to wait for the provider: ``value``, else ``SMS_TIMEOUT``."""
    if value is None:
        value = get_setting("SMS_TIMEOUT")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SmsConfigurationError(
            f"SMS_TIMEOUT is {value!r}: set it (or the timeout= keyword) to a "
            "positive number of seconds to wait for the provider."
        )
    return float(value)


def read_credentials(
    credentials: Mapping[str, str], kwargs: dict[str, Any]
) -> dict[str, str]:
    """Pop each credential keyword from ``kwargs``; fall back to its setting.

    ``credentials`` maps keyword to setting. A credential in neither raises,
    naming both, so a deployment fails when it builds the backend rather
    than at its first send.
    """
    values = {}
    for keyword, setting in credentials.items():
        value = kwargs.pop(keyword, None)
        if value is None:
            value = get_setting(setting)
        if not value:
            raise SmsConfigurationError(
                f"{setting} is not set: put it in your settings (from your "
                f"provider's console) or pass {keyword}= to get_connection()."
            )
        values[keyword] = value
    return values


def read_options(options: Mapping[str, str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop each option keyword from ``kwargs``; where it is None, read its setting."""
    values = {}
    for keyword, setting in options.items():
        value = kwargs.pop(keyword, None)
        values[keyword] = get_setting(setting) if value is None else value
    return values
