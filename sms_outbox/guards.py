"""Send guards: geo permissions, velocity limits, spend caps, conversion blocks.

SMS pumping (toll fraud) is bots requesting one-time codes for premium-rate
numbers, paid for by the site. The outbox sees every SMS before a provider is
paid, so it refuses them here, by the rules of ``SMS_GUARDS``:

- **Geo permissions**: per destination country (or number prefix) allow,
  block or monitor (log) the SMS.
- **Velocity limits**: at most N SMS per period per recipient, per number
  prefix (the number less its last digits), per country, to international
  destinations site-wide, and per caller key (an IP address, a user id) that
  the code sending declares with ``caller()``.
- **Spend caps**: the estimated cost (``sms.pricing.estimate_cost()``) a day
  and a month, site-wide and per country; at a cap SMS are refused, or held
  for staff to release.
- **Conversion blocks**: an app says when a code was used (``confirm()``);
  a prefix or country whose last N SMS converted under a threshold is
  blocked for a cooldown, logged, shown and liftable in the admin.

Every count lives in ``GuardCounter`` and is added to by one atomic upsert
(``sql.add_to_counters()``) in the enqueue's transaction: one statement more
per ``send_sms()``, exact under concurrent sends, and undone for what is then
refused, so a counter counts the SMS let through. ``admit()`` is the outbox's
request path; ``check_direct_sends()`` guards sends that go straight to a
provider (registered with ``sms.guards``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import functools
import hashlib
import logging
import re
import time
import types
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NoReturn

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sms.exceptions import (
    InvalidPhoneNumber,
    SendRefused,
    SmsConfigurationError,
    SmsError,
)
from sms.message import RecipientResult
from sms.phone import country_of, mask_phone_number, normalize_phone_number
from sms.pricing import estimate_cost
from sms_outbox import sql
from sms_outbox.conf import get_setting
from sms_outbox.models import GuardCounter, GuardEvent, Message, due_now

if TYPE_CHECKING:
    from sms.message import Message as SmsMessage

logger = logging.getLogger(__name__)

__all__ = [
    "Guards",
    "admit",
    "caller",
    "check_direct_sends",
    "confirm",
    "get_guards",
    "lift",
    "send_anyway",
    "spend_so_far",
]

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*")
_SCOPES = ("recipient", "prefix", "country", "international", "caller")
_ACTIONS = ("allow", "block", "monitor")
#: The country of a number no plan holds (or of every number without the
#: ``phonenumbers`` extra): ISO 3166's user-assigned "unknown".
UNKNOWN_COUNTRY = "ZZ"
_MICROS = Decimal(1_000_000)


@dataclasses.dataclass(frozen=True)
class Limit:
    """At most ``count`` SMS per ``seconds`` for each value of ``scope``."""

    scope: str  # "recipient", "prefix", ..., or "caller:<name>"
    count: int
    seconds: int


@dataclasses.dataclass(frozen=True)
class Guards:
    """``SMS_GUARDS``, checked and parsed (``get_guards()``)."""

    countries: dict[str, str]
    home: frozenset[str]
    prefix_digits: int
    limits: tuple[Limit, ...]
    limit_kinds: frozenset[str] | None
    caps: dict[tuple[str, str], dict[str, int]]  # (site|country, day|month) -> micros
    at_cap: str
    conversion_kinds: frozenset[str]
    conversion_sends: int
    conversion_below: float
    cooldown: int
    safe: tuple[str, ...]
    count_spend: bool

    @property
    def active(self) -> bool:
        """Return True when a rule applies or spend is counted."""
        return bool(
            self.countries
            or self.limits
            or self.caps
            or self.conversion_sends
            or self.count_spend
        )

    def prefix_of(self, number: str) -> str:
        """Return ``number`` less its last ``prefix_digits`` digits."""
        return number[: max(len(number) - self.prefix_digits, 2)]

    def is_safe(self, number: str) -> bool:
        """Return True when ``number`` or a prefix of it is on the safe list."""
        return number.startswith(self.safe) if self.safe else False

    def country_action(self, number: str, country: str) -> tuple[str, str]:
        """Return (action, the key that decided it) for a send to ``number``."""
        prefixes = [k for k in self.countries if k[:1] == "+" and number.startswith(k)]
        if prefixes:
            key = max(prefixes, key=len)
        elif country in self.countries:
            key = country
        elif "*" in self.countries:
            key = "*"
        else:
            return "allow", ""
        return self.countries[key], key

    def cap_for(self, scope: str, period: str, country: str) -> int | None:
        """Return the cap in millionths for ``scope`` and ``period``, or None."""
        caps = self.caps.get((scope, period))
        if caps is None:
            return None
        return caps.get(country, caps.get("*"))


def get_guards() -> Guards:
    """Return ``SMS_GUARDS`` parsed; raise ``SmsConfigurationError`` if invalid.

    Read at call time; the parse of one setting object is remembered, so a
    send does not parse it again (``override_settings`` gives a new object).
    """
    value = get_setting("SMS_GUARDS")
    prices = get_setting("SMS_PRICES")
    region = get_setting("SMS_DEFAULT_REGION")
    return _parse(_Identity(value), _Identity(prices), region)


class _Identity:
    """Hash and compare an object by identity, for ``_parse()``'s memo."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


@functools.lru_cache(maxsize=8)
def _parse(setting: _Identity, prices: _Identity, region: str | None) -> Guards:
    from sms_outbox.conf import DEFAULTS

    value = setting.value
    if not isinstance(value, Mapping):
        _invalid(f"is {value!r}", "a dict such as {'countries': {'GB': 'allow'}}")
    unknown = set(value) - set(DEFAULTS["SMS_GUARDS"])
    if unknown:
        _invalid(
            f"has unknown keys {sorted(unknown)}",
            f"only these keys: {sorted(DEFAULTS['SMS_GUARDS'])}",
        )
    options = {**DEFAULTS["SMS_GUARDS"], **value}
    conversion = {**DEFAULTS["SMS_GUARDS"]["conversion"], **options["conversion"]}
    home = options["home"] or [region]
    caps = {}
    for (scope, period), name in _CAP_KEYS.items():
        if options[name] is not None:
            caps[scope, period] = _caps(name, options[name])
    sends = conversion["sends"] or 0
    below = conversion["below"]
    if not isinstance(sends, int) or sends < 0:
        _invalid(f"has conversion sends {sends!r}", "a whole number such as 50")
    if not isinstance(below, int | float) or not 0 <= below <= 1:
        _invalid(f"has conversion below {below!r}", "a rate from 0 to 1, like 0.2")
    return Guards(
        countries=_countries(options["countries"]),
        home=frozenset(str(code).upper() for code in home if code),
        prefix_digits=_whole("prefix_digits", options["prefix_digits"]),
        limits=_limits(options["limits"]),
        limit_kinds=None
        if options["limit_kinds"] is None
        else frozenset(options["limit_kinds"]),
        caps=caps,
        at_cap=_choice("at_cap", options["at_cap"], ("refuse", "hold")),
        conversion_kinds=frozenset(conversion["kinds"]),
        conversion_sends=sends,
        conversion_below=float(below),
        cooldown=_whole("conversion cooldown", conversion["cooldown"]),
        safe=tuple(str(entry) for entry in options["safe"]),
        count_spend=bool(prices.value) or bool(caps),
    )


_CAP_KEYS = {
    ("site", "day"): "daily_cap",
    ("site", "month"): "monthly_cap",
    ("country", "day"): "country_daily_cap",
    ("country", "month"): "country_monthly_cap",
}


def _invalid(what: str, fix: str) -> NoReturn:
    raise SmsConfigurationError(f"SMS_GUARDS {what}: set it to {fix}.")


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _invalid(f"has {name} {value!r}", "a whole number of at least 0")
    assert isinstance(value, int)
    return value


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        _invalid(f"has {name} {value!r}", " or ".join(map(repr, choices)))
    assert isinstance(value, str)
    return value


def _countries(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        _invalid(
            f"has countries {value!r}", "a dict like {'GB': 'allow', '*': 'block'}"
        )
    countries = {}
    for key, action in value.items():
        valid_key = isinstance(key, str) and (
            key == "*"
            or (key.startswith("+") and key[1:].isdigit())
            or (len(key) == 2 and key.isalpha() and key.isupper())
        )
        if not valid_key or action not in _ACTIONS:
            _invalid(
                f"has countries entry {key!r}: {action!r}",
                "ISO country codes ('GB'), number prefixes ('+4470') or '*' "
                "mapped to 'allow', 'block' or 'monitor'",
            )
        countries[key] = action
    return countries


def _rate(scope: str, text: object) -> Limit:
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        _invalid(
            f"has limit {scope}: {text!r}", "'N/period' like '5/h', '20/10m', '100/d'"
        )
    assert match is not None
    count, times, unit = match.groups()
    return Limit(scope, int(count), int(times or 1) * _PERIODS[unit])


def _limits(value: object) -> tuple[Limit, ...]:
    if not isinstance(value, Mapping):
        _invalid(f"has limits {value!r}", "a dict like {'prefix': '20/h'}")
    limits = []
    for scope, rates in value.items():
        if not isinstance(scope, str) or scope.split(":")[0] not in _SCOPES:
            _invalid(
                f"has limit scope {scope!r}",
                "one of " + ", ".join(_SCOPES) + " or 'caller:<key name>'",
            )
        if rates is None:
            continue
        for rate in [rates] if isinstance(rates, str) else list(rates):
            limits.append(_rate(scope, rate))
    return tuple(limits)


def _caps(name: str, value: object) -> dict[str, int]:
    entries = value if isinstance(value, Mapping) else {"*": value}
    caps = {}
    for key, amount in entries.items():
        try:
            micros = _to_micros(Decimal(str(amount)))
        except InvalidOperation:
            micros = -1
        if micros < 0:
            _invalid(
                f"has {name} {value!r}",
                "an amount like '50.00', or a dict of country to amount",
            )
        caps[str(key)] = micros
    return caps


def _to_micros(amount: Decimal) -> int:
    return int((amount * _MICROS).to_integral_value(rounding=ROUND_CEILING))


# Caller keys: what the code sending says about who asked for the SMS.

_callers: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "sms_guard_callers", default=types.MappingProxyType({})
)


class caller:
    """Key the SMS sent inside this block by who asked for them.

    ``with caller(ip=request.META["REMOTE_ADDR"], user=request.user.pk):``
    makes every ``send_sms()`` in the block count against the ``caller``
    limits (``SMS_GUARDS["limits"]["caller"]``, or ``"caller:ip"`` for one
    key name) for that IP address and that user. Blocks nest; an inner key
    of the same name wins. Keys of None are left out. Per thread and per
    asyncio task (a context variable).
    """

    def __init__(self, **keys: object) -> None:
        self.keys = {
            name: str(value) for name, value in keys.items() if value is not None
        }

    def __enter__(self) -> caller:
        self._token = _callers.set({**_callers.get(), **self.keys})
        return self

    def __exit__(self, *exc_info: object) -> None:
        _callers.reset(self._token)


# Planning: the counters one SMS touches and the rules it must pass.


@dataclasses.dataclass
class _Plan:
    """What one SMS adds to which counters, and the checks on them."""

    number: str
    country: str
    micros: int
    # (key, window start, hits, spend micros, rule, limit or None)
    entries: list[tuple[str, int, int, int, str, int | None]]
    refusal: SendRefused | None = None
    held: bool = False
    # A country rule's refusal, known before anything is counted.
    geo: SendRefused | None = None


def _windows(now: float) -> dict[str, int]:
    """Return the start of today and of this month, local time, as epoch seconds."""
    return _window_starts(int(now // 60), timezone.get_current_timezone())


@functools.lru_cache(maxsize=8)
def _window_starts(minute: int, zone: datetime.tzinfo) -> dict[str, int]:
    """Return ``_windows()`` for a minute (days start on one) in time zone ``zone``.

    Remembered: every guarded send asks, and the answer only changes when
    a day does.
    """
    utc = datetime.datetime.fromtimestamp(minute * 60, datetime.timezone.utc)
    local = utc.astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"day": int(day.timestamp()), "month": int(day.replace(day=1).timestamp())}


def _country(number: str) -> str:
    return country_of(number) or UNKNOWN_COUNTRY


def _key(*parts: object) -> str:
    key = "|".join(map(str, parts))
    if len(key) > 100:  # a long caller key: keep it readable and unique
        key = key[:60] + "#" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return key


def _plan(
    guards: Guards,
    number: str,
    kind: str,
    body: str,
    callers: Mapping[str, str],
    now: float,
    windows: dict[str, int],
) -> _Plan:
    """Return what an SMS of ``kind`` and ``body`` to ``number`` counts and checks."""
    country = _country(number)
    safe = guards.is_safe(number)
    plan = _Plan(number, country, 0, [])
    if guards.countries and not safe:
        action, rule_key = guards.country_action(number, country)
        masked = mask_phone_number(number) if action != "allow" else ""
        if action == "block":
            plan.refusal = plan.geo = SendRefused(
                f"SMS to {masked} ({country}) are blocked by SMS_GUARDS['countries']"
                f"[{rule_key!r}]: allow the destination there if it is wanted.",
                rule="country",
                recipient=masked,
            )
            return plan
        if action == "monitor":
            logger.info("SMS to %s (%s, monitored) passed the guards.", masked, country)
    entries = plan.entries
    if guards.count_spend:
        cost = estimate_cost(body, number)
        if cost is None:
            if guards.caps:
                raise SmsConfigurationError(
                    f"SMS_GUARDS sets spend caps but SMS_PRICES has no price for "
                    f"{mask_phone_number(number)} ({country}): add the country, "
                    "or '*' for every other destination."
                )
        else:
            plan.micros = _to_micros(cost)
        # Per country only where a country has a cap: each counter is one
        # more row for the enqueue's upsert to write.
        scopes = [("site", "*")]
        if ("country", "day") in guards.caps or ("country", "month") in guards.caps:
            scopes.append(("country", country))
        for scope, value in scopes:
            for period in ("day", "month"):
                cap = guards.cap_for(scope, period, country)
                rule = (
                    f"spend:{period}" if scope == "site" else f"spend:country_{period}"
                )
                key = _key("spend", value, period)
                entries.append((key, windows[period], 0, plan.micros, rule, cap))
    if safe:
        return plan
    if guards.limits and (guards.limit_kinds is None or kind in guards.limit_kinds):
        prefix = guards.prefix_of(number)
        for limit in guards.limits:
            scope = limit.scope
            values: list[tuple[str, str]]
            if scope == "recipient":
                values = [(scope, number)]
            elif scope == "prefix":
                values = [(scope, prefix)]
            elif scope == "country":
                values = [(scope, country)]
            elif scope == "international":
                values = (
                    [(scope, "*")] if guards.home and country not in guards.home else []
                )
            elif scope == "caller":
                values = [(f"caller:{name}", v) for name, v in sorted(callers.items())]
            else:  # "caller:<name>"
                name = scope.partition(":")[2]
                values = [(scope, callers[name])] if name in callers else []
            window = int(now // limit.seconds * limit.seconds)
            for counted, value in values:
                key = _key(counted, value, limit.seconds)
                entries.append((key, window, 1, 0, f"limit:{counted}", limit.count))
    if guards.conversion_sends:
        counts = 1 if kind in guards.conversion_kinds else 0
        for scope, value in (
            ("prefix", guards.prefix_of(number)),
            ("country", country),
        ):
            key = _key("conversion", scope, value)
            entries.append((key, 0, counts, 0, f"blocked:{scope}", None))
    return plan


def _totals(plans: Iterable[_Plan]) -> dict[str, list[int]]:
    """Return {key: [window start, hits, spend micros]} summed over ``plans``."""
    totals: dict[str, list[int]] = {}
    for plan in plans:
        for key, window, hits, micros, _rule, _limit in plan.entries:
            total = totals.setdefault(key, [window, 0, 0])
            total[1] += hits
            total[2] += micros
    return totals


def _add(deltas: dict[str, list[int]], sign: int = 1) -> dict[str, sql.Counter]:
    rows = [
        (key, window, sign * hits, sign * micros)
        for key, (window, hits, micros) in sorted(deltas.items())
        if hits or micros or sign > 0
    ]
    if not rows:
        return {}
    return sql.add_to_counters(sql.outbox_connection(), rows)


def _decide(
    guards: Guards, plans: list[_Plan], counters: dict[str, sql.Counter], now: float
) -> None:
    """Refuse or hold each plan that breaks a rule, in order; admit the rest.

    A counter's value before this call is what the upsert returned less
    what this call added; each admitted SMS then uses up its share, so of
    several SMS in one call only those that still fit pass.
    """
    added = _totals(plans)
    used = {key: [0, 0] for key in added}
    for plan in plans:
        if plan.refusal is not None:
            continue
        broken: tuple[str, int | None] | None = None
        for key, _window, hits, micros, rule, limit in plan.entries:
            counter = counters[key]
            if rule.startswith("blocked:"):
                if counter.blocked_until > now:
                    broken = (rule, None)
                    break
                continue
            if limit is None:
                continue
            before_hits = counter.hits - added[key][1]
            before_micros = counter.spend_micros - added[key][2]
            if rule.startswith("spend:"):
                if micros and before_micros + used[key][1] + micros > limit:
                    broken = (rule, limit)
                    break
            elif before_hits + used[key][0] + hits > limit:
                broken = (rule, limit)
                break
        if broken is None:
            for key, _window, hits, micros, _rule, _limit in plan.entries:
                used[key][0] += hits
                used[key][1] += micros
            continue
        rule, limit = broken
        plan.refusal = _refusal(plan, rule, limit)
        plan.held = rule.startswith("spend:") and guards.at_cap == "hold"


def _refusal(plan: _Plan, rule: str, limit: int | None) -> SendRefused:
    masked = mask_phone_number(plan.number)
    if rule.startswith("blocked:"):
        what = "prefix" if rule == "blocked:prefix" else "country"
        text = (
            f"SMS to {masked} are blocked: its {what} converted too few codes "
            "lately (SMS pumping?). Lift the block in the admin's send blocks if "
            "the traffic is real, or put the number on SMS_GUARDS['safe']."
        )
    elif rule.startswith("spend:"):
        assert limit is not None
        text = (
            f"The SMS to {masked} ({plan.country}) would pass the spend cap "
            f"{rule.partition(':')[2]} of {Decimal(limit) / _MICROS}: raise the "
            "cap in SMS_GUARDS, or wait for the next day or month."
        )
    else:
        text = (
            f"The SMS to {masked} would pass the limit {rule} of {limit} per "
            "window in SMS_GUARDS['limits']: try again later."
        )
    return SendRefused(text, rule=rule, recipient=masked)


def _conversions(
    guards: Guards,
    plans: list[_Plan],
    counters: dict[str, sql.Counter],
    refunded: dict[str, list[int]],
    now: float,
) -> None:
    """Block the prefixes and countries whose last N SMS converted too little.

    Runs when a conversion counter has counted ``sends`` SMS (read from what
    the upsert returned, less what was refunded: no query): it starts a new
    window, and blocks for the cooldown if the share confirmed fell under
    ``below``. Same transaction as the enqueue, which holds the row.
    """
    full = []
    for key in {
        key
        for plan in plans
        if plan.refusal is None
        for key, _w, hits, _m, rule, _l in plan.entries
        if rule.startswith("blocked:") and hits
    }:
        hits = counters[key].hits - refunded.get(key, [0, 0, 0])[1]
        if hits >= guards.conversion_sends:
            full.append((key, hits, counters[key].converted))
    if not full:
        return
    alias = sql.outbox_alias()
    for key, hits, converted in sorted(full):
        rate = converted / hits
        _, scope, value = key.split("|", 2)
        counter = GuardCounter.objects.using(alias).filter(key=key)
        if rate >= guards.conversion_below or guards.is_safe(value):
            counter.update(hits=0, converted=0)
            continue
        until = int(now) + guards.cooldown
        reason = (
            f"{converted} of the last {hits} SMS converted "
            f"({rate:.0%} < {guards.conversion_below:.0%})"
        )
        counter.update(hits=0, converted=0, blocked_until=until, block_reason=reason)
        GuardEvent.objects.using(alias).create(
            scope=scope,
            value=value,
            action=GuardEvent.Action.BLOCKED,
            reason=reason[:200],
            by="conversion guard",
        )
        logger.warning(
            "Blocked SMS to %s %s for %d s: %s.", scope, value, guards.cooldown, reason
        )


def _guard(guards: Guards, plans: list[_Plan], fail_silently: bool) -> bool:
    """Count ``plans``, decide each, undo the counts of what is not admitted.

    Return True when the whole call is refused (a refusal, not silent):
    then nothing of it is counted.
    """
    now = time.time()
    for plan in plans:  # afresh when a lock conflict runs this again
        plan.refusal, plan.held = plan.geo, False
    counted = [plan for plan in plans if plan.refusal is None]
    counters = _add(_totals(counted))
    _decide(guards, counted, counters, now)
    refused = [plan for plan in plans if plan.refusal is not None]
    whole = bool(refused) and not fail_silently and any(not p.held for p in refused)
    refunded = _totals(counted if whole else [p for p in counted if p.refusal])
    _add(refunded, -1)
    if not whole and guards.conversion_sends:
        _conversions(guards, plans, counters, refunded, now)
    return whole


def _plans_for(guards: Guards, items: Iterable[tuple[str, str, str]]) -> list[_Plan]:
    now = time.time()
    windows = _windows(now)
    callers = _callers.get()
    return [
        _plan(guards, number, kind, body, callers, now, windows)
        for number, kind, body in items
    ]


def _in_transaction(function: Callable[[], Any]) -> Any:
    """Run ``function`` in the caller's transaction, or in one of its own.

    In autocommit the counts and the rows commit together, and a lock
    conflict retries the whole transaction.
    """
    connection = sql.outbox_connection()
    if connection.in_atomic_block:
        return function()

    def atomic() -> Any:
        with transaction.atomic(using=connection.alias):
            return function()

    return sql.retry_when_locked(atomic)


# The outbox's request path.

Store = Callable[
    [list[Message], list["SmsMessage"], bool], tuple[list[Message], list["SmsMessage"]]
]


def admit(
    rows: list[Message],
    messages: list[SmsMessage],
    fail_silently: bool,
    store: Store,
) -> tuple[list[Message], list[SmsMessage]]:
    """Guard outbox ``rows`` (grouped by message, in order), then ``store`` them.

    Return the rows stored and the messages with a row stored or held. The
    counters and the rows are written in the same transaction (the
    caller's, or one of its own in autocommit). A refused row raises
    ``SendRefused`` and nothing of the call is stored or counted, unless
    ``fail_silently``: then it is skipped, logged and recorded on its
    message's ``results``. Either way it is stored as ``blocked``, with its
    rule, once the transaction commits. Held rows (a spend cap with
    ``at_cap: "hold"``) are stored as ``blocked`` too, without an error.
    """
    guards = get_guards()
    if not guards.active:
        return store(rows, messages, fail_silently)
    plans = _plans_for(guards, ((r.recipient, r.kind, r.body) for r in rows))

    def guarded() -> tuple[list[Message], list[SmsMessage], bool]:
        whole = _guard(guards, plans, fail_silently)
        kept = [row for row, plan in zip(rows, plans, strict=True) if not plan.refusal]
        stopped = [
            (row, plan) for row, plan in zip(rows, plans, strict=True) if plan.refusal
        ]
        if stopped:
            _block_on_commit(stopped)
        if whole:
            return [], [], True
        held = {row.batch_id for row, plan in stopped if plan.held}
        counted = {id(row): plan for row, plan in zip(rows, plans, strict=True)}
        if not kept:
            return [], _messages_with(kept, rows, messages, held), False
        try:
            stored, with_rows = store(
                kept, _messages_with(kept, rows, messages, set()), fail_silently
            )
        except SmsError:
            if not owns_transaction:  # else the rollback undoes the counts
                _add(_totals(counted[id(row)] for row in kept), -1)
            raise
        kept_ids = {id(row) for row in stored}
        dropped = [counted[id(row)] for row in kept if id(row) not in kept_ids]
        if dropped:  # opted out, under fail_silently
            _add(_totals(dropped), -1)
        # Messages held whole count as queued too, in the caller's order.
        batches = dict.fromkeys(row.batch_id for row in rows)
        going = {id(message) for message in with_rows}
        stored_messages = [
            message
            for message, batch in zip(messages, batches, strict=True)
            if id(message) in going or batch in held
        ]
        return stored, stored_messages, False

    owns_transaction = not sql.outbox_connection().in_atomic_block
    stored, stored_messages, whole = _in_transaction(guarded)
    stopped = [
        (row, plan) for row, plan in zip(rows, plans, strict=True) if plan.refusal
    ]
    if whole:
        first = next(plan for _row, plan in stopped if not plan.held)
        assert first.refusal is not None
        raise first.refusal
    for row, plan in stopped:
        _record(messages, rows, row, plan)
    return stored, stored_messages


def _messages_with(
    kept: list[Message],
    rows: list[Message],
    messages: list[SmsMessage],
    held: set[Any],
) -> list[SmsMessage]:
    """Return the messages that keep a row, or have one held, in order."""
    batches = list(dict.fromkeys(row.batch_id for row in rows))
    keep = {row.batch_id for row in kept} | held
    return [m for m, batch in zip(messages, batches, strict=True) if batch in keep]


def _record(
    messages: list[SmsMessage], rows: list[Message], row: Message, plan: _Plan
) -> None:
    """Record a refused or held row on its message's ``results``, and log it."""
    assert plan.refusal is not None
    batches = list(dict.fromkeys(r.batch_id for r in rows))
    message = messages[batches.index(row.batch_id)]
    if plan.held:
        logger.warning("Holding an SMS to %s: %s", plan.refusal.recipient, plan.refusal)
        status, error = "held", None
    else:
        logger.warning(
            "Not queueing an SMS to %s: %s", plan.refusal.recipient, plan.refusal
        )
        status, error = "blocked", plan.refusal
    message.results = [
        RecipientResult(plan.number, status=status, error=error)
        if result.recipient == plan.number and result.error is None
        else result
        for result in message.results
    ]


def _block_on_commit(stopped: list[tuple[Message, _Plan]]) -> None:
    """Store the refused and held rows as ``blocked`` once the transaction commits."""
    now = timezone.now()
    blocked = []
    for row, plan in stopped:
        assert plan.refusal is not None
        blocked.append(
            Message(
                batch_id=row.batch_id,
                body=row.body,
                originator=row.originator,
                recipient=row.recipient,
                kind=row.kind,
                priority=row.priority,
                send_after=row.send_after,
                next_attempt_at=row.next_attempt_at,
                reference=row.reference,
                status=Message.Status.BLOCKED,
                blocked_by=plan.refusal.rule,
                last_error=str(plan.refusal),
                finished_at=now,
            )
        )
    alias = sql.outbox_alias()
    transaction.on_commit(
        lambda: Message.objects.using(alias).bulk_create(blocked),
        using=alias,
        robust=True,
    )


# Direct sends: a provider backend called through send_sms().


def check_direct_sends(
    messages: list[SmsMessage], fail_silently: bool
) -> list[SmsMessage]:
    """Return the messages the guards let go straight to a provider.

    Registered with ``sms.guards``. The counts commit before the provider
    is called. A refused message raises ``SendRefused``, or under
    ``fail_silently`` is left out with its refusal on ``results``. Nothing is
    stored: only outbox rows become ``blocked`` rows. Numbers that are not
    valid are left for the backend to reject.
    """
    guards = get_guards()
    if not guards.active:
        return messages
    items, owners = [], []
    for index, message in enumerate(messages):
        for recipient in dict.fromkeys(message.recipients):
            try:
                number = normalize_phone_number(recipient)
            except InvalidPhoneNumber:
                continue
            items.append((number, message.kind, message.body))
            owners.append(index)
    plans = _plans_for(guards, items)
    # Nothing is stored for a direct send, so a held SMS is refused.
    _in_transaction(lambda: _guard(guards, plans, fail_silently))
    refused = {owners[i]: plan for i, plan in enumerate(plans) if plan.refusal}
    if not refused:
        return messages
    if not fail_silently:
        first = next(iter(refused.values()))
        assert first.refusal is not None
        raise first.refusal
    kept = []
    for index, message in enumerate(messages):
        if index not in refused:
            kept.append(message)
            continue
        refusals = [p for i, p in enumerate(plans) if owners[i] == index and p.refusal]
        for plan in refusals:
            assert plan.refusal is not None
            logger.warning(
                "Not sending an SMS to %s: %s", plan.refusal.recipient, plan.refusal
            )
        message.results = [
            RecipientResult(p.number, status="blocked", error=p.refusal)
            for p in refusals
        ]
    return kept


# Conversion feedback, blocks and staff actions.


def confirm(target: Message | str) -> bool:
    """Record that the code sent in an outbox SMS was used; return True if new.

    ``target`` is the outbox row, its ``reference``, or an E.164 number (the
    latest SMS of a conversion kind to it). A row is counted once, towards
    its prefix's and its country's conversion rate: a prefix whose codes are
    never used is being pumped. Unknown targets return False.
    """
    guards = get_guards()
    alias = sql.outbox_alias()
    rows = Message.objects.using(alias).filter(confirmed_at__isnull=True)
    if isinstance(target, Message):
        rows = rows.filter(pk=target.pk)
    elif isinstance(target, str) and target.startswith("+"):
        number = normalize_phone_number(target)
        latest = (
            Message.objects.using(alias)
            .filter(recipient=number, kind__in=guards.conversion_kinds)
            .order_by("-pk")
            .values_list("pk", flat=True)[:1]
        )
        rows = rows.filter(pk__in=list(latest))
    else:
        rows = rows.filter(reference=target)
    found = rows.values_list("pk", "recipient").first()
    if found is None:
        return False
    pk, number = found
    with transaction.atomic(using=alias):
        if (
            not Message.objects.using(alias)
            .filter(pk=pk, confirmed_at__isnull=True)
            .update(confirmed_at=timezone.now())
        ):
            return False
        keys = [
            _key("conversion", "prefix", guards.prefix_of(number)),
            _key("conversion", "country", _country(number)),
        ]
        GuardCounter.objects.using(alias).filter(key__in=keys).update(
            converted=F("converted") + 1
        )
    return True


def lift(block: GuardCounter, by: str = "") -> bool:
    """Lift the conversion block ``block``; return False if it was not blocked.

    Its conversion window starts again, and the lift is logged.
    """
    alias = sql.outbox_alias()
    _, scope, value = block.key.split("|", 2)
    with transaction.atomic(using=alias):
        lifted = (
            GuardCounter.objects.using(alias)
            .filter(pk=block.pk, blocked_until__gt=0)
            .update(blocked_until=0, hits=0, converted=0, block_reason="")
        )
        if lifted:
            GuardEvent.objects.using(alias).create(
                scope=scope, value=value, action=GuardEvent.Action.LIFTED, by=by
            )
    if lifted:
        logger.warning("Lifted the block on SMS to %s %s (%s).", scope, value, by)
    return bool(lifted)


def send_anyway(rows: Iterable[Message]) -> int:
    """Queue the ``blocked`` rows among ``rows`` now; return how many.

    For staff who checked them: no guard is asked again, but their cost
    counts towards today's and this month's spend.
    """
    guards = get_guards()
    alias = sql.outbox_alias()
    with transaction.atomic(using=alias):
        chosen = list(
            Message.objects.using(alias)
            .select_for_update()
            .filter(pk__in=[row.pk for row in rows], status=Message.Status.BLOCKED)
        )
        if not chosen:
            return 0
        now = time.time()
        windows = _windows(now)
        if guards.count_spend:
            plans = []
            for row in chosen:
                plan = _Plan(row.recipient, _country(row.recipient), 0, [])
                cost = estimate_cost(row.body, row.recipient)
                plan.micros = 0 if cost is None else _to_micros(cost)
                for value in ("*", plan.country):
                    for period in ("day", "month"):
                        key = _key("spend", value, period)
                        plan.entries.append(
                            (key, windows[period], 0, plan.micros, "", None)
                        )
                plans.append(plan)
            _add(_totals(plans))
        Message.objects.using(alias).filter(pk__in=[row.pk for row in chosen]).update(
            status=Message.Status.QUEUED,
            next_attempt_at=due_now(),
            finished_at=None,
            updated_at=timezone.now(),
        )
    return len(chosen)


@dataclasses.dataclass
class Spend:
    """Spend so far and its cap, in the currency of ``SMS_PRICES``."""

    scope: str  # "*" site-wide, or an ISO country code
    period: str  # "day" or "month"
    spent: Decimal
    cap: Decimal | None

    @property
    def share(self) -> float | None:
        """Return the share of the cap spent (0.0 to 1.0 and over), or None."""
        if not self.cap:
            return None
        return float(self.spent / self.cap)


def spend_so_far(now: float | None = None) -> list[Spend]:
    """Return today's and this month's spend, site-wide then per country.

    What the health page shows against the caps. Countries appear once they
    have spend this month or a cap of their own.
    """
    guards = get_guards()
    windows = _windows(time.time() if now is None else now)
    counters = GuardCounter.objects.using(sql.outbox_alias()).filter(
        key__startswith="spend|"
    )
    found: dict[tuple[str, str], int] = {}
    for key, start, micros in counters.values_list(
        "key", "window_start", "spend_micros"
    ):
        _, value, period = key.split("|")
        if windows.get(period) == start:
            found[value, period] = micros
    countries = {value for value, _ in found if value != "*"}
    for scope, _period in guards.caps:
        if scope == "country":
            for caps in (
                guards.caps[key] for key in guards.caps if key[0] == "country"
            ):
                countries.update(k for k in caps if k != "*")
    spends = []
    for value in ["*", *sorted(countries)]:
        scope = "site" if value == "*" else "country"
        for period in ("day", "month"):
            cap = guards.cap_for(scope, period, value)
            spends.append(
                Spend(
                    scope=value,
                    period=period,
                    spent=Decimal(found.get((value, period), 0)) / _MICROS,
                    cap=None if cap is None else Decimal(cap) / _MICROS,
                )
            )
    return spends
