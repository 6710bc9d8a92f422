"""System checks for the outbox: a delivering backend, SQLite locking, receipts."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.db import connections
from django.utils.module_loading import import_string

from sms.checks import check_backend_setting
from sms.conf import get_setting


def check_outbox_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that ``SMS_OUTBOX_BACKEND`` delivers and has what it needs."""
    errors = check_backend_setting("SMS_OUTBOX_BACKEND", "sms_outbox")
    if errors:
        return errors
    from sms_outbox.backends import QueuedSmsBackend

    path = get_setting("SMS_OUTBOX_BACKEND")
    klass = import_string(path)
    if isinstance(klass, type) and issubclass(klass, QueuedSmsBackend):
        return [
            Error(
                f"SMS_OUTBOX_BACKEND is {path!r}, the queued backend itself: "
                "queued SMS would be queued again forever.",
                hint="Set SMS_OUTBOX_BACKEND to a backend that delivers, such as "
                "'sms.backends.twilio.SmsBackend'.",
                id="sms_outbox.E004",
            )
        ]
    return []


def check_sqlite_locking(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when SQLite is set up so that concurrent drains hit "locked" errors."""
    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3":
        return []
    options = settings_dict.get("OPTIONS", {})
    if str(options.get("transaction_mode", "")).upper() == "IMMEDIATE" and (
        options.get("timeout", 5) >= 5
    ):
        return []
    return [
        Warning(
            "The outbox runs on SQLite without IMMEDIATE transactions and a busy "
            "timeout of at least 5 s: concurrent drains may stall or retry on "
            "'database is locked'.",
            hint="Set DATABASES['default']['OPTIONS'] = {'transaction_mode': "
            "'IMMEDIATE', 'timeout': 20}.",
            id="sms_outbox.W001",
        )
    ]


def check_receipt_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when MessageBird delivery reports are requested but cannot be verified.

    The report endpoint refuses what it cannot verify, and MessageBird signs
    reports with a signing key of its own, not with the access key.
    """
    if not get_setting("SMS_STATUS_CALLBACK_URL") or get_setting(
        "MESSAGEBIRD_SIGNING_KEY"
    ):
        return []
    from sms.backends.messagebird import SmsBackend as MessageBirdBackend

    for setting in ("SMS_BACKEND", "SMS_OUTBOX_BACKEND"):
        try:
            klass = import_string(get_setting(setting) or "")
        except ImportError:
            continue  # reported by the backend checks
        if isinstance(klass, type) and issubclass(klass, MessageBirdBackend):
            return [
                Warning(
                    f"SMS_STATUS_CALLBACK_URL asks MessageBird for delivery "
                    f"reports ({setting} is the MessageBird backend), but "
                    "MESSAGEBIRD_SIGNING_KEY is not set: the report endpoint "
                    "cannot verify them and will answer 500.",
                    hint="Set MESSAGEBIRD_SIGNING_KEY to the signing key from "
                    "MessageBird's dashboard (not the access key).",
                    id="sms_outbox.W002",
                )
            ]
    return []
