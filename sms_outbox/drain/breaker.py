"""The circuit breaker of each provider alias, shared by every worker in the database.

An alias whose provider failed to take ``SMS_OUTBOX_BREAKER_FAILURES`` SMS in
a row (an account error at once) is *open*: every worker on every host skips
it for ``SMS_OUTBOX_BREAKER_COOLDOWN`` seconds. Then it is *half-open*: the
first worker to claim the probe (one UPDATE, so only one wins) sends one
call through it; a send that works closes the circuit, a failure opens it for
another cooldown. The state lives in ``ProviderCircuit`` rows, and every time
is the database's clock, so hosts whose clocks disagree still agree on it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Now

from sms.providers import provider_aliases
from sms_outbox.conf import get_setting
from sms_outbox.models import ProviderCircuit
from sms_outbox.sql import retry_when_locked

logger = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"

#: Seconds beyond ``SMS_TIMEOUT`` a probe holds a half-open alias: a worker
#: that died mid-probe frees it after this.
PROBE_MARGIN = 5.0


_STILL_OPEN = ExpressionWrapper(Q(opened_until__gt=Now()), output_field=BooleanField())


def _circuits() -> QuerySet[ProviderCircuit]:
    return ProviderCircuit.objects.using(router.db_for_write(ProviderCircuit))


@dataclass(frozen=True)
class Snapshot:
    """What the breaker said about a route's aliases just before a call.

    ``skip``: aliases to pass over now (open, or half-open with the probe
    held elsewhere). ``troubled``: aliases with failures on record, whose
    next success must be written to close them.
    """

    skip: frozenset[str]
    troubled: frozenset[str]


def look(aliases: Iterable[str]) -> Snapshot:
    """Return the breaker's view of ``aliases``; claim a due probe.

    One SELECT (of the circuits with failures on record, usually none),
    plus one UPDATE per half-open alias to claim its probe. The drain's
    caller threads ask it beside each other and beside the drain's own
    writes, so a lock conflict the database asks us to retry is retried.
    """
    return retry_when_locked(_look, list(aliases))


def _look(aliases: list[str]) -> Snapshot:
    rows = list(
        _circuits()
        .filter(alias__in=aliases)
        .filter(Q(failures__gt=0) | Q(opened_until__isnull=False))
        .annotate(still_open=_STILL_OPEN)
        .values_list("alias", "opened_until", "still_open")
    )
    skip = set()
    for alias, opened_until, still_open in rows:
        if opened_until is None:
            continue
        if still_open or not _claim_probe(alias):
            skip.add(alias)
    return Snapshot(frozenset(skip), frozenset(alias for alias, *_ in rows))


def _claim_probe(alias: str) -> bool:
    """Take the half-open ``alias``'s probe; return True if this worker got it."""
    hold = float(get_setting("SMS_TIMEOUT")) + PROBE_MARGIN
    claimed = (
        _circuits()
        .filter(alias=alias, opened_until__lte=Now())
        .filter(Q(probe_until__isnull=True) | Q(probe_until__lte=Now()))
        .update(probe_until=Now() + datetime.timedelta(seconds=hold))
    )
    if claimed:
        logger.info("Probing SMS provider %r after its cooldown.", alias)
    return bool(claimed)


def record_success(alias: str, snapshot: Snapshot) -> None:
    """Close ``alias``'s circuit if it had failures on record; else write nothing."""
    if alias not in snapshot.troubled:
        return
    closed = retry_when_locked(
        _circuits()
        .filter(alias=alias)
        .filter(Q(failures__gt=0) | Q(opened_until__isnull=False))
        .update,
        failures=0,
        opened_until=None,
        probe_until=None,
        updated_at=Now(),
    )
    if closed:
        logger.info("SMS provider %r works again: its circuit is closed.", alias)


def record_failure(alias: str, error_text: str, account: bool = False) -> None:
    """Count a call ``alias``'s provider did not take; open its circuit if due.

    An account error (``account``) opens it at once: no SMS can go through
    that account until someone fixes it. A failed probe opens it again. One
    transaction, run again whole on a lock conflict the database asks us to
    retry.
    """
    retry_when_locked(_record_failure, alias, error_text, account)


def _record_failure(alias: str, error_text: str, account: bool) -> None:
    with transaction.atomic(using=router.db_for_write(ProviderCircuit)):
        _count_failure(alias, error_text, account)


def _count_failure(alias: str, error_text: str, account: bool) -> None:
    threshold = max(1, int(get_setting("SMS_OUTBOX_BREAKER_FAILURES")))
    cooldown = float(get_setting("SMS_OUTBOX_BREAKER_COOLDOWN"))
    circuits = _circuits()
    values: dict[str, Any] = {"last_error": error_text[:1000], "updated_at": Now()}
    if not circuits.filter(alias=alias).update(
        failures=F("failures") + (threshold if account else 1), **values
    ):
        try:
            with transaction.atomic(using=router.db_for_write(ProviderCircuit)):
                circuits.create(
                    alias=alias, failures=threshold if account else 1, **values
                )
        except IntegrityError:  # another worker created it meanwhile
            circuits.filter(alias=alias).update(failures=F("failures") + 1, **values)
    opened = (
        circuits.filter(alias=alias, failures__gte=threshold)
        .filter(Q(opened_until__isnull=True) | Q(opened_until__lte=Now()))
        .update(
            opened_until=Now() + datetime.timedelta(seconds=cooldown),
            probe_until=None,
        )
    )
    if opened:
        logger.warning(
            "SMS provider %r failed %s: its circuit is open for %g s, and every "
            "worker sends through the next provider of each route meanwhile. "
            "Last error: %s",
            alias,
            "with an account error" if account else f"{threshold} time(s) in a row",
            cooldown,
            error_text,
        )


def states() -> list[dict[str, Any]]:
    """Return each ``SMS_PROVIDERS`` alias's circuit: state, failures, until when.

    For the admin's health page and ``sms_outbox_status``.
    """
    aliases = provider_aliases()
    found = {
        circuit.alias: circuit
        for circuit in _circuits()
        .filter(alias__in=aliases)
        .annotate(still_open=_STILL_OPEN)
    }
    report = []
    for alias in aliases:
        circuit = found.get(alias)
        state = CLOSED
        if circuit is not None and circuit.opened_until is not None:
            state = OPEN if circuit.still_open else HALF_OPEN
        report.append(
            {
                "alias": alias,
                "state": state,
                "failures": circuit.failures if circuit else 0,
                "opened_until": circuit.opened_until if circuit else None,
                "last_error": circuit.last_error if circuit else "",
            }
        )
    return report
