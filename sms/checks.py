"""System checks for the SMS settings (run when ``sms`` is in INSTALLED_APPS)."""

from __future__ import annotations

import os
from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error
from django.utils.module_loading import import_string

from sms.conf import get_setting
from sms.exceptions import InvalidPhoneNumber, SmsConfigurationError
from sms.phone import validate_originator
from sms.providers import NO_ALPHANUMERIC_SENDER, get_provider, is_alias


def check_backend_setting(setting: str, id_prefix: str = "sms") -> list[CheckMessage]:
    """Return errors for the backend named by ``setting`` and the settings it needs.

    The outbox reuses this for ``SMS_OUTBOX_BACKEND``.
    """
    path = get_setting(setting)
    try:
        if is_alias(path):
            return []  # check_sms_providers() checks every alias
    except SmsConfigurationError:
        return []  # and reports a malformed SMS_PROVIDERS
    if (problem := _check_path(setting, path, id_prefix)) is not None:
        return [problem]
    try:
        klass = import_string(path)
    except ImportError as err:
        return [
            Error(
                f"{setting} {path!r} cannot be imported: {err}.",
                hint=f"Fix the dotted path in {setting}.",
                id=f"{id_prefix}.E001",
            )
        ]
    errors = _check_file_path(klass, id_prefix)
    return errors + _check_required_settings(klass, path, setting, id_prefix)


def _check_path(setting: str, path: Any, id_prefix: str) -> CheckMessage | None:
    """Return an error if ``setting`` is empty or not a dotted path string."""
    if not path:
        problem = f"{setting} is not set."
    elif not isinstance(path, str):
        problem = f"{setting} is {path!r}, not a dotted path string."
    else:
        return None
    return Error(
        problem,
        hint=f"Set {setting} to a backend path such as "
        "'sms.backends.console.SmsBackend'.",
        id=f"{id_prefix}.E001",
    )


def _check_required_settings(
    klass: Any, path: str, setting: str, id_prefix: str
) -> list[CheckMessage]:
    """Return an error for each of the backend's ``required_settings`` unset."""
    errors: list[CheckMessage] = []
    for name in getattr(klass, "required_settings", ()):
        value = get_setting(name)
        if value:
            continue
        state = "not set" if value is None else "empty"
        errors.append(
            Error(
                f"{path} needs the {name} setting, which is {state}.",
                hint=f"Set {name} (from your provider's console), or choose "
                f"another backend in {setting}.",
                id=f"{id_prefix}.E003",
            )
        )
    return errors


def _check_file_path(klass: Any, id_prefix: str) -> list[CheckMessage]:
    from sms.backends.filebased import SmsBackend as FileBackend

    if not (isinstance(klass, type) and issubclass(klass, FileBackend)):
        return []
    path = get_setting("SMS_FILE_PATH")
    problem = None
    if not path:
        problem = "SMS_FILE_PATH is not set"
    elif not isinstance(path, str | os.PathLike):
        problem = f"SMS_FILE_PATH {path!r} is not a path"
    elif os.path.exists(path) and not os.path.isdir(path):
        problem = f"SMS_FILE_PATH {os.fspath(path)!r} is not a directory"
    elif os.path.isdir(path) and not os.access(path, os.W_OK):
        problem = f"SMS_FILE_PATH {os.fspath(path)!r} is not writable"
    elif not os.path.exists(path) and not _can_create(os.path.abspath(path)):
        problem = (
            f"SMS_FILE_PATH {os.fspath(path)!r} does not exist and cannot be created"
        )
    if problem is None:
        return []
    return [
        Error(
            f"{problem}, but the file SMS backend writes messages there.",
            hint="Set SMS_FILE_PATH to a writable directory.",
            id=f"{id_prefix}.E002",
        )
    ]


def _can_create(path: str) -> bool:
    """Return True if the missing directory ``path`` could be made here."""
    parent = os.path.dirname(path)
    while parent != path and not os.path.exists(parent):
        path, parent = parent, os.path.dirname(parent)
    return os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)


def _check_outbox_installed(path: Any) -> CheckMessage | None:
    """Return an error if ``path`` names an ``sms_outbox`` class the site lacks.

    The path is compared as a string, so that ``sms`` never imports
    ``sms_outbox``; importing the backend without the app installed fails on
    its models, and so would the first send.
    """
    if not (isinstance(path, str) and path.startswith("sms_outbox.")):
        return None
    if apps.is_installed("sms_outbox"):
        return None
    return Error(
        f"SMS_BACKEND is {path!r}, but 'sms_outbox' is not in INSTALLED_APPS, "
        "so the first send would fail: the queued backend stores each SMS in "
        "the outbox's tables.",
        hint="Add 'sms_outbox' to INSTALLED_APPS and run 'manage.py migrate', or "
        "set SMS_BACKEND to a backend that sends directly.",
        id="sms.E004",
    )


def check_sms_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that ``SMS_BACKEND`` can be imported and has what it needs.

    A backend from ``sms_outbox`` needs that app installed (``sms.E004``);
    without it the backend is not imported, since its models would not load.
    """
    problem = _check_outbox_installed(get_setting("SMS_BACKEND"))
    if problem is not None:
        return [problem]
    return check_backend_setting("SMS_BACKEND")


def check_sms_providers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check every ``SMS_PROVIDERS`` alias: its shape, its BACKEND, its SENDERS."""
    providers = get_setting("SMS_PROVIDERS")
    if not providers:
        return []
    errors: list[CheckMessage] = []
    names = providers if isinstance(providers, dict) else {"": None}
    for alias in names:
        try:
            spec = get_provider(alias)
            import_string(spec["BACKEND"])
        except (SmsConfigurationError, ImportError) as err:
            text = str(err)
            if not isinstance(err, SmsConfigurationError):
                text = (
                    f"SMS_PROVIDERS[{alias!r}]['BACKEND'] {spec['BACKEND']!r} "
                    f"cannot be imported: {err}."
                )
            errors.append(
                Error(
                    text,
                    hint="Each SMS_PROVIDERS entry is {'BACKEND': "
                    "'sms.backends.twilio.SmsBackend', 'OPTIONS': {...}}.",
                    id="sms.E005",
                )
            )
            continue
        where = f"SMS_PROVIDERS[{alias!r}]['SENDERS']"
        errors += check_senders(spec.get("SENDERS", {}), where, "sms.E006")
    return errors


def check_senders(senders: Any, where: str, check_id: str) -> list[CheckMessage]:
    """Return errors for a table of senders per country found at ``where``.

    Keys are ISO 3166 country codes (``"GB"``) or ``"*"``; each value must be
    a valid originator, and a number (not an alphanumeric sender id) for a
    country whose carriers refuse those (``NO_ALPHANUMERIC_SENDER``).
    """
    hint = (
        "Map ISO country codes (or '*') to senders, such as {'GB': 'ACME', "
        "'US': '+15550100', '*': '+15550100'}; the US and Canada need a number."
    )
    if not isinstance(senders, dict):
        return [Error(f"{where} is {senders!r}, not a dict.", hint=hint, id=check_id)]
    errors: list[CheckMessage] = []
    for country, sender in senders.items():
        problem = None
        if not (
            country == "*"
            or (isinstance(country, str) and len(country) == 2 and country.isupper())
        ):
            problem = f"{country!r} is not an ISO country code or '*'"
        else:
            try:
                checked = validate_originator(sender)
            except InvalidPhoneNumber as err:
                problem = str(err).rstrip(".")
            else:
                alphanumeric = not checked.lstrip("+").isdigit()
                if alphanumeric and country in NO_ALPHANUMERIC_SENDER:
                    problem = (
                        f"{country} refuses alphanumeric senders, but {sender!r} is one"
                    )
        if problem:
            errors.append(Error(f"{where}: {problem}.", hint=hint, id=check_id))
    fallback = senders.get("*")
    uncovered = sorted(NO_ALPHANUMERIC_SENDER - set(senders))
    if isinstance(fallback, str) and not fallback.lstrip("+").isdigit() and uncovered:
        errors.append(
            Error(
                f"{where}: '*' gives the alphanumeric sender {fallback!r} to every "
                f"other country, but {' and '.join(uncovered)} refuse those.",
                hint=hint,
                id=check_id,
            )
        )
    return errors
