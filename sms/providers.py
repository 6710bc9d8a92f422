"""Named provider connections: ``SMS_PROVIDERS``, in the shape of Django's ``CACHES``.

::

    SMS_PROVIDERS = {
        "twilio_us": {
            "BACKEND": "sms.backends.twilio.SmsBackend",
            "OPTIONS": {"account_sid": "AC...", "auth_token": "...", "edge": "ashburn"},
            "SENDERS": {"US": "+15550100", "*": "+15550100"},
        },
        "vonage": {"BACKEND": "sms.backends.vonage.SmsBackend", "OPTIONS": {...}},
    }

``OPTIONS`` holds the backend's keyword arguments (credentials, ``api_url``,
``timeout``, ``status_callback``, a region or edge), the alias's default
sender (``default_from``) and its webhook secrets (``signing_key``,
``signature_secret``), which the webhooks read and the backend never sees.
``SENDERS`` maps an ISO country code (or ``"*"``) to the sender used for
numbers of that country. An alias may be used wherever a dotted backend path
is: ``get_connection("twilio_us")``, ``SMS_BACKEND = "twilio_us"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.module_loading import import_string

from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms.exceptions import SmsBackendImportError, SmsConfigurationError
from sms.phone import country_of

__all__ = [
    "NO_ALPHANUMERIC_SENDER",
    "backend_path",
    "create_backend",
    "get_provider",
    "is_alias",
    "option",
    "provider_aliases",
    "sender_in",
]

#: OPTIONS keys that are not the backend's keyword arguments: the alias's
#: default sender and the webhook secrets.
NOT_FOR_BACKEND = frozenset({"default_from", "signing_key", "signature_secret"})

#: Countries whose carriers refuse an alphanumeric sender id: a number (or a
#: short code) must be used there.
NO_ALPHANUMERIC_SENDER = frozenset({"US", "CA"})

_KEYS = frozenset({"BACKEND", "OPTIONS", "SENDERS"})


def _providers() -> Mapping[str, Any]:
    """Return ``SMS_PROVIDERS``, or raise if it is not a dict of dicts."""
    value = get_setting("SMS_PROVIDERS")
    if not isinstance(value, Mapping) or not all(
        isinstance(alias, str) and isinstance(spec, Mapping)
        for alias, spec in value.items()
    ):
        raise SmsConfigurationError(
            f"SMS_PROVIDERS is {value!r}: set it to a dict of aliases, each a dict "
            "with 'BACKEND' (a dotted path) and 'OPTIONS' (its keyword arguments)."
        )
    return value


def provider_aliases() -> list[str]:
    """Return the aliases ``SMS_PROVIDERS`` defines, in its order."""
    return list(_providers())


def is_alias(name: object) -> bool:
    """Return True if ``name`` is an alias of ``SMS_PROVIDERS``."""
    return isinstance(name, str) and name in _providers()


def get_provider(alias: str) -> Mapping[str, Any]:
    """Return the ``SMS_PROVIDERS`` entry of ``alias``, checked.

    Raise ``SmsConfigurationError`` for an unknown alias, an entry without a
    ``BACKEND`` string, unknown keys, or ``OPTIONS``/``SENDERS`` that are not
    dicts.
    """
    providers = _providers()
    if alias not in providers:
        known = ", ".join(sorted(providers)) or "none"
        raise SmsConfigurationError(
            f"{alias!r} is not an alias of SMS_PROVIDERS (defined: {known}): add "
            "it there, or use a dotted backend path."
        )
    spec = providers[alias]
    unknown = set(spec) - _KEYS
    if unknown or not isinstance(spec.get("BACKEND"), str) or not spec["BACKEND"]:
        raise SmsConfigurationError(
            f"SMS_PROVIDERS[{alias!r}] must be a dict with a 'BACKEND' dotted path "
            "and optional 'OPTIONS' and 'SENDERS' dicts"
            + (f"; unknown keys: {', '.join(sorted(unknown))}." if unknown else ".")
        )
    for key in ("OPTIONS", "SENDERS"):
        if not isinstance(spec.get(key, {}), Mapping):
            raise SmsConfigurationError(
                f"SMS_PROVIDERS[{alias!r}][{key!r}] is {spec[key]!r}: set it to a dict."
            )
    checked: Mapping[str, Any] = spec
    return checked


def option(alias: str, name: str, default: Any = None) -> Any:
    """Return OPTIONS[``name``] of ``alias``, else ``default``."""
    return get_provider(alias).get("OPTIONS", {}).get(name, default)


def backend_path(name: str) -> str:
    """Return the dotted backend path of ``name``: an alias's BACKEND, or ``name``."""
    if is_alias(name):
        path: str = get_provider(name)["BACKEND"]
        return path
    return name


def create_backend(
    alias: str, fail_silently: bool = False, **kwargs: Any
) -> BaseSmsBackend:
    """Return a backend for ``alias``, built from its BACKEND and OPTIONS.

    Keywords given here beat the alias's OPTIONS. The backend carries the
    alias as ``alias`` and the alias's sender as ``default_from``.
    """
    spec = get_provider(alias)
    path = spec["BACKEND"]
    try:
        klass: type[BaseSmsBackend] = import_string(path)
    except ImportError as err:
        raise SmsBackendImportError(
            f"The SMS backend {path!r} of SMS_PROVIDERS[{alias!r}] cannot be "
            f"imported ({err}): fix its 'BACKEND' dotted path."
        ) from err
    options = dict(spec.get("OPTIONS", {}))
    default_from = options.get("default_from") or ""
    keywords = {k: v for k, v in options.items() if k not in NOT_FOR_BACKEND}
    backend = klass(fail_silently=fail_silently, **{**keywords, **kwargs})
    backend.alias = alias
    backend.default_from = default_from
    return backend


def sender_in(senders: Mapping[str, str] | None, recipient: str) -> str:
    """Return the sender ``senders`` gives ``recipient``'s country, else its "*"."""
    if not senders:
        return ""
    country = country_of(recipient)
    return (country and senders.get(country)) or senders.get("*") or ""
