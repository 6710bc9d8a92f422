"""Routes: which ``SMS_PROVIDERS`` aliases a queued SMS goes through, in what order.

::

    SMS_ROUTES = {
        "otp": {"KINDS": ["otp"], "PROVIDERS": ["twilio", "vonage"],
                "FAILOVER_UNKNOWN": True},
        "uk": {"COUNTRIES": ["GB"], "PROVIDERS": ["vonage", "twilio"],
               "SENDERS": {"GB": "ACME"}},
        "default": {"PROVIDERS": ["twilio", "vonage"]},
    }

The first route whose conditions all hold (the destination's country or
prefix, the message's kind) is recorded on the row when it is queued; the
route named ``default`` takes the rest. The drain sends a row through the
first alias of its route whose circuit is not open, and moves it to the
next one when that provider did not take it (``next_alias()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error

from sms.checks import check_senders
from sms.conf import get_setting as get_sms_setting
from sms.exceptions import SmsConfigurationError
from sms.phone import country_of
from sms.providers import get_provider, is_alias, sender_in
from sms_outbox.conf import get_setting

DEFAULT = "default"
_KEYS = frozenset(
    {"PROVIDERS", "COUNTRIES", "PREFIXES", "KINDS", "FAILOVER_UNKNOWN", "SENDERS"}
)


@dataclass(frozen=True)
class Route:
    """One entry of ``SMS_ROUTES``: its conditions and its ordered aliases."""

    name: str
    providers: tuple[str, ...]
    countries: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()
    failover_unknown: bool = False
    senders: Mapping[str, str] | None = None

    def matches(self, recipient: str, kind: str) -> bool:
        """Return True if every condition this route sets holds."""
        if self.kinds and kind not in self.kinds:
            return False
        if self.countries or self.prefixes:
            return recipient.startswith(self.prefixes) or (
                bool(self.countries) and country_of(recipient) in self.countries
            )
        return True


def routes() -> dict[str, Route]:
    """Return ``SMS_ROUTES``, read now and checked.

    Raise ``SmsConfigurationError`` naming the route and what to put there
    when a route is not a dict, has unknown keys, or lists no alias or an
    alias ``SMS_PROVIDERS`` lacks.
    """
    value = get_setting("SMS_ROUTES")
    if not isinstance(value, Mapping):
        raise SmsConfigurationError(
            f"SMS_ROUTES is {value!r}: set it to a dict of route names, each a dict "
            "with 'PROVIDERS' (SMS_PROVIDERS aliases, in order)."
        )
    return {name: _route(name, spec) for name, spec in value.items()}


def _route(name: str, spec: object) -> Route:
    where = f"SMS_ROUTES[{name!r}]"
    if not isinstance(spec, Mapping) or set(spec) - _KEYS:
        raise SmsConfigurationError(
            f"{where} must be a dict with 'PROVIDERS' and optional 'COUNTRIES', "
            "'PREFIXES', 'KINDS', 'FAILOVER_UNKNOWN' and 'SENDERS'."
        )
    providers = spec.get("PROVIDERS")
    if isinstance(providers, str) or not providers:
        raise SmsConfigurationError(
            f"{where}['PROVIDERS'] is {providers!r}: list the SMS_PROVIDERS "
            "aliases to try, in order, such as ['twilio', 'vonage']."
        )
    for alias in providers:
        if not is_alias(alias):
            raise SmsConfigurationError(
                f"{where}['PROVIDERS'] names {alias!r}, which is not an alias of "
                "SMS_PROVIDERS: add it there or remove it from the route."
            )
    lists = {}
    for key in ("COUNTRIES", "PREFIXES", "KINDS"):
        items = spec.get(key, ())
        if isinstance(items, str) or not all(isinstance(i, str) for i in items):
            raise SmsConfigurationError(
                f"{where}[{key!r}] is {items!r}: set it to a list of strings."
            )
        lists[key] = tuple(items)
    return Route(
        name=name,
        providers=tuple(providers),
        countries=frozenset(lists["COUNTRIES"]),
        prefixes=lists["PREFIXES"],
        kinds=frozenset(lists["KINDS"]),
        failover_unknown=bool(spec.get("FAILOVER_UNKNOWN", False)),
        senders=dict(spec.get("SENDERS") or {}) or None,
    )


def route_for(recipient: str, kind: str) -> str:
    """Return the name of the route a new row to ``recipient`` takes, or "".

    "" (no ``SMS_ROUTES``, or no route matches and none is named
    ``default``) sends the row through ``SMS_OUTBOX_BACKEND``.
    """
    table = routes()
    for route in table.values():
        if route.name != DEFAULT and route.matches(recipient, kind or ""):
            return route.name
    return DEFAULT if DEFAULT in table else ""


def route_named(name: str, recipient: str, kind: str) -> Route | None:
    """Return the route recorded as ``name``, or None for "no route".

    A name that ``SMS_ROUTES`` no longer holds is routed again by
    destination and kind, so a row queued before a change still goes out.
    """
    if not name:
        return None
    table = routes()
    if name not in table:
        name = route_for(recipient, kind)
    return table.get(name)


def next_alias(
    route: Route,
    alias: str,
    took: bool | None,
    skip: frozenset[str] = frozenset(),
) -> str | None:
    """Return the alias to try after a try through ``alias``, or None to stay.

    ``took`` is ``drain.policy.provider_took()`` of the try's error. A row
    moves on only when the provider did not take the SMS (False: no
    connection, a 5xx, a 429, a suspended account), or may have (None) and
    the route opts in (``FAILOVER_UNKNOWN``): a possible duplicate rather
    than a lost SMS. A recipient's error never moves a row: another provider
    would refuse it too. Aliases in ``skip`` (open circuits, aliases this
    pass already tried) are passed over.
    """
    if took is True or (took is None and not route.failover_unknown):
        return None
    position = route.providers.index(alias) if alias in route.providers else -1
    rest = [a for a in route.providers[position + 1 :] if a not in skip]
    return rest[0] if rest else None


def sender_for(route: Route, alias: str, recipient: str, originator: str) -> str:
    """Return the sender for ``recipient`` through ``alias`` on ``route``.

    A row whose originator is the site's default (or none) takes the route's
    sender for the destination's country, else the alias's ``SENDERS``; an
    originator the caller chose stays.
    """
    if originator not in ("", get_sms_setting("DEFAULT_FROM_SMS")):
        return originator
    chosen = sender_in(route.senders, recipient) or sender_in(
        get_provider(alias).get("SENDERS"), recipient
    )
    return chosen or originator


def check_routes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check ``SMS_ROUTES``: its shape and aliases (E020), its senders (E021)."""
    try:
        table = routes()
    except SmsConfigurationError as err:
        return [
            Error(
                str(err),
                hint="See the 'Several providers' page of the documentation.",
                id="sms_outbox.E030",
            )
        ]
    errors: list[CheckMessage] = []
    for route in table.values():
        where = f"SMS_ROUTES[{route.name!r}]['SENDERS']"
        errors += check_senders(route.senders or {}, where, "sms_outbox.E031")
    return errors
