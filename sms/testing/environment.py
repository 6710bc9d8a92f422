"""The test environment for code that sends SMS: every SMS lands in ``sms.outbox``.

Django's test runner sends mail to ``django.core.mail.outbox`` and empties it
before each test; these functions do the same for SMS, and the pytest plugin
(``sms.testing.pytest_plugin``) and the test runner
(``sms.testing.runner.SmsTestRunner``) call them for you.
"""

from __future__ import annotations

from typing import Any

from django.test.utils import override_settings

import sms
from sms.conf import get_setting

#: The backend tests send through: it appends each SMS to ``sms.outbox``.
LOCMEM_BACKEND = "sms.backends.locmem.SmsBackend"


class _Environment:
    """What ``setup_test_environment()`` changed, kept until the teardown."""

    override: override_settings | None = None
    settings_backend: Any = None


_environment = _Environment()


def setup_test_environment() -> None:
    """Send every SMS to ``sms.outbox`` until ``teardown_test_environment()``.

    Switch ``SMS_BACKEND`` to the locmem backend (through ``override_settings``,
    so a test's own ``override_settings(SMS_BACKEND=...)`` still wins) and empty
    ``sms.outbox``. Raise ``RuntimeError`` when already set up, as Django's
    ``setup_test_environment()`` does.
    """
    if is_set_up():
        raise RuntimeError(
            "sms.testing.setup_test_environment() was already called: call "
            "teardown_test_environment() before setting it up again."
        )
    _environment.settings_backend = get_setting("SMS_BACKEND")
    override = override_settings(SMS_BACKEND=LOCMEM_BACKEND)
    override.enable()
    _environment.override = override
    empty_outbox()


def teardown_test_environment() -> None:
    """Restore ``SMS_BACKEND`` and empty ``sms.outbox``; do nothing if not set up."""
    override = _environment.override
    if override is None:
        return
    override.disable()
    _environment.override = None
    _environment.settings_backend = None
    empty_outbox()


def is_set_up() -> bool:
    """Return True between ``setup_test_environment()`` and its teardown."""
    return _environment.override is not None


def settings_backend() -> Any:
    """Return the ``SMS_BACKEND`` the settings gave before the switch to locmem.

    Outside the test environment, return the current ``SMS_BACKEND``.
    """
    if is_set_up():
        return _environment.settings_backend
    return get_setting("SMS_BACKEND")


def empty_outbox() -> None:
    """Give ``sms.outbox`` a new empty list, as Django does for ``mail.outbox``."""
    sms.outbox = []
