"""The pytest plugin: with pytest-django, every SMS goes to ``sms.outbox``.

Installed with django-sms and loaded by pytest through the ``pytest11`` entry
point ``django_sms``. When pytest-django has configured Django's settings,
``SMS_BACKEND`` is the locmem backend for the whole session and
``sms.outbox`` is a new empty list before each test, as pytest-django does
for mail. A test marked ``@pytest.mark.sms_real_backend`` gets the
``SMS_BACKEND`` of the settings back (to drive a provider backend against a
fake provider); ``-p no:django_sms`` turns the plugin off.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import sms
from sms.message import Message
from sms.testing import environment

#: The marker that keeps the settings' ``SMS_BACKEND`` for one test.
REAL_BACKEND_MARKER = "sms_real_backend"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{REAL_BACKEND_MARKER}: send this test's SMS through the SMS_BACKEND of "
        "the settings instead of the locmem backend (django-sms).",
    )


def _django_configured(config: pytest.Config) -> bool:
    """Return True when pytest-django runs and Django's settings are configured."""
    if not config.pluginmanager.hasplugin("django"):
        return False
    from django.conf import settings

    return settings.configured


@pytest.fixture(autouse=True, scope="session")
def _sms_test_environment(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Switch ``SMS_BACKEND`` to locmem for the session, under pytest-django."""
    if not _django_configured(request.config):
        yield False
        return
    environment.setup_test_environment()
    try:
        yield True
    finally:
        environment.teardown_test_environment()


@pytest.fixture(autouse=True)
def _sms_outbox_per_test(
    request: pytest.FixtureRequest, _sms_test_environment: bool
) -> Iterator[None]:
    """Empty ``sms.outbox`` before each test; honour the real-backend marker."""
    if not _sms_test_environment:
        yield
        return
    environment.empty_outbox()
    if request.node.get_closest_marker(REAL_BACKEND_MARKER) is None:
        yield
        return
    from django.test.utils import override_settings

    with override_settings(SMS_BACKEND=environment.settings_backend()):
        yield


@pytest.fixture
def smsoutbox(_sms_outbox_per_test: None) -> list[Message]:
    """Return ``sms.outbox``, empty at the start of the test."""
    return sms.outbox
