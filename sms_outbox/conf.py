"""Every setting the outbox and its webhooks read, with its default, and one getter."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from sms.conf import get_setting as get_sms_setting
from sms.exceptions import SmsConfigurationError
from sms.providers import backend_path

#: The defaults of the settings only ``sms_outbox`` reads. ``get_setting()``
#: also answers for the settings of ``sms`` (``SMS_TIMEOUT``, the provider
#: credentials), from ``sms.conf``.
DEFAULTS: dict[str, Any] = {
    "SMS_OUTBOX_BACKEND": None,
    "SMS_OUTBOX_MAX_ATTEMPTS": 5,
    "SMS_OUTBOX_RETRY_DELAY": 60,
    "SMS_OUTBOX_RETRY_MAX_DELAY": 3600,
    "SMS_OUTBOX_LEASE_SECONDS": 300,
    "SMS_OUTBOX_ACCOUNT_ERROR_DELAY": 60,
    "SMS_OUTBOX_GROUP_SENDS": True,
    # Routes and failover between SMS_PROVIDERS aliases (sms_outbox.routing,
    # sms_outbox.drain.breaker).
    "SMS_ROUTES": {},
    "SMS_OUTBOX_BREAKER_FAILURES": 5,
    "SMS_OUTBOX_BREAKER_COOLDOWN": 60,
    # When SMS may go out and until when (sms_outbox.schedule, sms_outbox.expiry).
    "SMS_OUTBOX_QUIET_HOURS": None,
    "SMS_OUTBOX_URGENT_KINDS": ("otp",),
    "SMS_OUTBOX_QUIET_HOURS_SPREAD": 300,
    "SMS_OUTBOX_TTL": {},
    # Provider calls one drain keeps in flight, and the send rate of the
    # account (messages per second, or {"account": ..., "sender": ...}),
    # shared by every drain of the site (sms_outbox.drain.rate).
    "SMS_OUTBOX_MAX_IN_FLIGHT": 32,
    "SMS_OUTBOX_RATE": None,
    # Hand the drain to django.tasks (sms_outbox.tasks); keys given in the
    # setting override these one by one.
    "SMS_OUTBOX_TASK": {
        "enabled": False,
        "backend": "default",
        "queue_name": "default",
        "priority": 0,
        "window": 1.0,
        "cache": "default",
    },
    # Inbound SMS and opt-outs (sms_outbox.optout, sms_outbox.inbound).
    "SMS_OUTBOX_ENFORCE_OPT_OUT": True,
    "SMS_OUTBOX_OPT_OUT_KEYWORDS": (
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
    ),
    "SMS_OUTBOX_OPT_IN_KEYWORDS": ("START", "UNSTOP", "YES"),
    "SMS_OUTBOX_HELP_KEYWORDS": ("HELP", "INFO"),
    "SMS_OUTBOX_HELP_REPLY": "",
    # Send guards against SMS pumping and runaway spend (sms_outbox.guards);
    # keys given in the setting override these one by one.
    "SMS_GUARDS": {
        "countries": {},
        "home": (),
        "prefix_digits": 4,
        "limits": {},
        "limit_kinds": None,
        "daily_cap": None,
        "monthly_cap": None,
        "country_daily_cap": None,
        "country_monthly_cap": None,
        "at_cap": "refuse",
        "conversion": {"kinds": ("otp",), "sends": 0, "below": 0.2, "cooldown": 86400},
        "safe": (),
    },
    # Webhooks: receipts and inbound SMS (sms_outbox.webhooks).
    "SMS_WEBHOOK_BASE_URL": None,
    "MESSAGEBIRD_SIGNING_KEY": None,
    "VONAGE_SIGNATURE_SECRET": None,
    "VONAGE_SIGNATURE_METHOD": "md5",
    "AWS_SNS_INBOUND_TOPIC_ARNS": (),
    "AWS_SNS_CERT_HOSTS": (),
}


def get_setting(name: str) -> Any:
    """Return the current value of setting ``name``, or its default.

    Read at call time, so ``override_settings`` works; a value of ``None`` in
    the settings module counts as unset. Names ``sms`` reads are answered by
    ``sms.conf.get_setting()``.
    """
    value = get_sms_setting(name)
    return DEFAULTS.get(name) if value is None else value


def get_delivery_backend_path() -> str:
    """Return ``SMS_OUTBOX_BACKEND``, the backend that delivers queued SMS.

    It is a dotted path or an alias of ``SMS_PROVIDERS``. Raise
    ``SmsConfigurationError`` when it is unset, cannot be imported, or names a
    backend that does not deliver (the queued backend itself, which would
    queue forever).
    """
    path: str | None = get_setting("SMS_OUTBOX_BACKEND")
    if not path:
        raise SmsConfigurationError(
            "SMS_OUTBOX_BACKEND is not set: set it to the backend that delivers "
            "queued SMS, such as 'sms.backends.twilio.SmsBackend', or to an "
            "alias of SMS_PROVIDERS."
        )
    try:
        klass = import_string(backend_path(path))
    except ImportError as err:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_BACKEND {path!r} cannot be imported ({err}): fix the "
            "dotted path."
        ) from err
    if getattr(klass, "delivers", True) is False:
        raise SmsConfigurationError(
            f"SMS_OUTBOX_BACKEND is {path!r}, the queued backend itself: set it "
            "to a backend that delivers, such as 'sms.backends.twilio.SmsBackend'."
        )
    return path
