"""Every setting django-sms reads, with its default, behind one getter."""

from __future__ import annotations

import os
from typing import Any

from django.conf import ENVIRONMENT_VARIABLE, settings
from django.utils.functional import empty

#: The defaults of every setting the library reads. A setting not listed here
#: has no default: reading it when absent returns ``None``.
DEFAULTS: dict[str, Any] = {
    "SMS_BACKEND": None,
    # Named provider connections (sms.providers): alias -> BACKEND, OPTIONS.
    "SMS_PROVIDERS": {},
    "DEFAULT_FROM_SMS": "",
    "SMS_FILE_PATH": None,
    # Set to None in settings to send bodies of any length (Message.check_length).
    "SMS_MAX_SEGMENTS": 10,
    "SMS_DEFAULT_REGION": None,
    "SMS_TIMEOUT": 10,
    "SMS_PRICES": {},
    "SMS_SMART_ENCODING": False,
    "SMS_STATUS_CALLBACK_URL": None,
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_MESSAGING_SERVICE_SID": None,
    "MESSAGEBIRD_ACCESS_KEY": None,
    "AWS_SMS_REGION": None,
    "AWS_SMS_SENDER_ID": None,
    "AWS_SMS_TYPE": None,
    "AWS_SMS_MAX_PRICE": None,
    "VONAGE_API_KEY": None,
    "VONAGE_API_SECRET": None,
}


def get_setting(name: str) -> Any:
    """Return the current value of setting ``name``, or its default.

    Read at call time so ``override_settings`` works; a value of ``None`` in the
    settings module counts as unset.
    """
    value = raw_setting(name)
    return DEFAULTS.get(name) if value is None else value


def raw_setting(name: str, missing: Any = None) -> Any:
    """Return setting ``name`` as the settings hold it, or ``missing`` if absent.

    No default and no reading of None: for a setting where None is a value
    of its own (``SMS_MAX_SEGMENTS``). Read at call time.
    """
    # The loaded settings object, read directly: through ``settings`` each
    # read of a setting that is not set (most of these are not) costs two
    # proxied attribute lookups and a caught exception, and the outbox drain
    # reads one per message. ``override_settings`` swaps this object too.
    proxy: Any = settings  # django.conf.LazySettings, typed as Settings
    loaded = proxy._wrapped
    if loaded is empty:
        # Message() must work before settings are configured (docs/
        # compatibility.md). With DJANGO_SETTINGS_MODULE set, settings load
        # on first access.
        if not os.environ.get(ENVIRONMENT_VARIABLE):
            return missing
        loaded = settings
    return getattr(loaded, name, missing)
