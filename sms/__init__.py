"""Tools for sending SMS, modelled on ``django.core.mail``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from django.utils.module_loading import import_string

from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import SmsBackendImportError, SmsConfigurationError
from sms.message import Message, RecipientResult, send_and_signal
from sms.providers import create_backend, is_alias

__all__ = [
    "BaseSmsBackend",
    "Message",
    "RecipientResult",
    "get_connection",
    "send_mass_sms",
    "send_sms",
]


def _read_version() -> str:
    """Return the installed distribution's version, else the checkout's.

    The version is written once, in pyproject.toml; an installed package reads
    it from its metadata. Run from a checkout that is not installed, it is
    read from the pyproject.toml beside the package, and when neither exists
    it is ``"0+unknown"``, which sorts before every release.
    """
    try:
        return metadata.version("django-sms")
    except metadata.PackageNotFoundError:
        pass
    try:
        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(
            encoding="utf-8"
        )
    except OSError:
        return "0+unknown"
    # The [project] table's name and version, without a TOML parser on 3.10.
    if re.search(r'^name\s*=\s*"django-sms"', text, re.MULTILINE):
        if found := re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE):
            return found.group(1)
    return "0+unknown"


#: The version of django-sms, a PEP 440 string such as ``"1.0.0.dev0"``.
__version__: str = _read_version()

#: The messages the locmem backend sent: empty from import on. Tests may
#: rebind it (``sms.outbox = []``); the test runner hooks in ``sms.testing``
#: give each test a fresh list, as Django does for ``django.core.mail.outbox``.
outbox: list[Message] = []


def get_connection(
    backend: str | None = None, fail_silently: bool = False, **kwargs: Any
) -> BaseSmsBackend:
    """Load an SMS backend and return an instance of it.

    ``backend`` is a dotted path or an alias of ``SMS_PROVIDERS``; when None,
    ``SMS_BACKEND`` (either of the two) is read now. Both ``fail_silently``
    and every other keyword go to the backend's constructor; for an alias
    they beat its OPTIONS.
    """
    path = backend or get_setting("SMS_BACKEND")
    if path and is_alias(path):
        return create_backend(path, fail_silently=fail_silently, **kwargs)
    if not path:
        raise SmsConfigurationError(
            "SMS_BACKEND is not set: set it to a backend path such as "
            "'sms.backends.console.SmsBackend' or an alias of SMS_PROVIDERS, "
            "or pass backend= to "
            "get_connection()."
        )
    try:
        klass: type[BaseSmsBackend] = import_string(path)
    except ImportError as err:
        raise SmsBackendImportError(
            f"The SMS backend {path!r} cannot be imported ({err}): check the "
            "dotted path in SMS_BACKEND or the backend argument."
        ) from err
    return klass(fail_silently=fail_silently, **kwargs)


def send_sms(
    body: str = "",
    originator: str | None = None,
    recipients: str | list[str] | tuple[str, ...] | None = None,
    fail_silently: bool = False,
    connection: BaseSmsBackend | None = None,
) -> int:
    """Send one message to ``recipients``; return 1 if it went to all, else 0.

    ``recipients`` may be a single number. ``originator`` defaults to
    ``DEFAULT_FROM_SMS``. A thin wrapper: use ``Message`` for anything more.
    """
    if isinstance(recipients, str):
        recipients = [recipients]
    message = Message(body, originator, recipients, connection=connection)
    return message.send(fail_silently=fail_silently)


def send_mass_sms(
    datatuple: Iterable[tuple[str, str | None, str | list[str] | tuple[str, ...]]],
    fail_silently: bool = False,
    connection: BaseSmsBackend | None = None,
) -> int:
    """Send each ``(body, originator, recipients)`` over one connection.

    Return the number of messages sent to all their recipients.
    """
    connection = connection or get_connection(fail_silently=fail_silently)
    messages = [
        Message(
            body,
            originator,
            [recipients] if isinstance(recipients, str) else recipients,
            connection=connection,
        )
        for body, originator, recipients in datatuple
    ]
    messages = [message for message in messages if message.recipients]
    return send_and_signal(connection, messages, fail_silently)
