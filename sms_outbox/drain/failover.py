"""Send claimed rows along their route: the next provider when one did not take them.

A row without a route goes through the drain's own backend
(``SMS_OUTBOX_BACKEND``), as ever. A routed row goes through the first alias
of its route whose circuit is not open (``breaker``); when that provider did
not take it (``policy.provider_took()``), the row moves to the next alias in
the same pass, without using an attempt, and each alias is tried at most
once per pass. The try that moved is logged with the row's final result
(``AttemptResult.hops``), so the attempt log shows every provider tried.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import ProviderAccountError, ProviderUnavailable
from sms_outbox.drain import breaker
from sms_outbox.drain.claims import ClaimedRow
from sms_outbox.drain.policy import RETRY, SENT, provider_took
from sms_outbox.drain.results import AttemptResult
from sms_outbox.drain.sending import GroupRefused, StopDraining, Throttled, send_rows
from sms_outbox.routing import Route, next_alias, route_named, sender_for

_local = threading.local()


def send_routed(backend: BaseSmsBackend, rows: list[ClaimedRow]) -> list[AttemptResult]:
    """Send ``rows`` along their routes; one result per row, as ``send_rows()``.

    ``backend`` is the drain thread's own, for rows without a route. Raise
    ``StopDraining`` (carrying every result so far) only when the last
    alias a row could go to has an account error, and ``GroupRefused`` only
    for unrouted rows, as ``send_rows()`` does.
    """
    results: list[AttemptResult] = []
    groups = list(_by_route(rows))
    for route, group in groups:
        try:
            if route is None:
                # Alone, a call refused as a whole is the drain's to split;
                # beside rows already sent, it is split here.
                send = send_rows if len(groups) == 1 else _send
                found = send(backend, group)
                _tag(found, backend.alias)
            else:
                found = _along(route, backend, group)
        except StopDraining as stop:
            raise StopDraining(stop.error, results + stop.results) from stop.error
        results += found
    return results


def _by_route(
    rows: list[ClaimedRow],
) -> Iterator[tuple[Route | None, list[ClaimedRow]]]:
    """Yield the rows of each route (rows of one call usually share one)."""
    groups: dict[str, list[ClaimedRow]] = {}
    for row in rows:
        groups.setdefault(row.route, []).append(row)
    for group in groups.values():
        first = group[0]
        yield route_named(first.route, first.recipient, first.kind), group


def _along(
    route: Route, default: BaseSmsBackend, rows: list[ClaimedRow]
) -> list[AttemptResult]:
    """Send ``rows`` through ``route``'s aliases until each has its outcome."""
    snapshot = breaker.look(route.providers)
    tried: set[str] = set()
    alias = next((a for a in route.providers if a not in snapshot.skip), None)
    if alias is None:
        return [_all_open(route, row) for row in rows]
    results: list[AttemptResult] = []
    hops: dict[int, list[AttemptResult]] = {}
    originals = {row.id: row for row in rows}
    pending = rows
    while alias is not None and pending:
        tried.add(alias)
        skip = frozenset(tried) | snapshot.skip
        batch = [
            row._replace(
                originator=sender_for(route, alias, row.recipient, row.originator)
            )
            for row in pending
        ]
        target = next_alias(route, alias, False, skip)  # where a row moves to
        stop: StopDraining | Throttled | None = None
        try:
            out = _send(connection_for(alias, default), batch)
        except StopDraining as stopped:
            out, stop = stopped.results, stopped
        except Throttled as throttled:
            # A provider that asks us to slow down did not take the rows it
            # refused: they move on to the next alias, or, on the last one,
            # the drain paces itself and tries them again.
            if target is None:
                raise Throttled(throttled.error, results + throttled.results) from (
                    throttled.error
                )
            out, stop = throttled.results, throttled
        _tag(out, alias)
        _judge(alias, out, stop if isinstance(stop, StopDraining) else None, snapshot)
        moving: list[AttemptResult] = []
        for result in out:
            took = provider_took(result.error)
            moves = next_alias(route, alias, took, skip) is not None
            if result.kind != SENT and moves:
                moving.append(result)
            else:
                result.hops = hops.pop(result.row.id, [])
                results.append(result)
        if stop is not None:
            if target is None:
                assert isinstance(stop, StopDraining)
                raise StopDraining(stop.error, results)
            done = {result.row.id for result in out}
            moving += [
                _refused(r, stop.error, alias) for r in batch if r.id not in done
            ]
        # Each alias picks its own sender: move the rows as they were claimed.
        pending = [originals[result.row.id] for result in moving]
        for result in moving:
            hops.setdefault(result.row.id, []).append(result)
        alias = target
    return results


def _send(backend: BaseSmsBackend, rows: list[ClaimedRow]) -> list[AttemptResult]:
    """Return ``send_rows()``'s results; a call refused as a whole goes row by row."""
    try:
        return send_rows(backend, rows)
    except GroupRefused:
        results: list[AttemptResult] = []
        for row in rows:
            try:
                results += send_rows(backend, [row])
            except StopDraining as stop:
                raise StopDraining(stop.error, results + stop.results) from stop.error
        return results


def _judge(
    alias: str,
    out: list[AttemptResult],
    stop: StopDraining | None,
    snapshot: breaker.Snapshot,
) -> None:
    """Tell the breaker how ``alias`` did in one call: took the SMS, or not."""
    if stop is not None:
        account = isinstance(stop.error, ProviderAccountError)
        breaker.record_failure(alias, str(stop.error), account=account)
        return
    if any(provider_took(result.error) for result in out):
        breaker.record_success(alias, snapshot)
    elif out:
        breaker.record_failure(alias, out[0].error_text)


def _refused(row: ClaimedRow, error: Exception, alias: str) -> AttemptResult:
    """Return the try of a row whose call ``alias`` refused with an account error."""
    code = getattr(error, "code", None)
    return AttemptResult(
        row,
        RETRY,
        error_code="" if code is None else str(code),
        error_text=f"{type(error).__name__}: {error}",
        error=error,
        provider=alias,
    )


def _all_open(route: Route, row: ClaimedRow) -> AttemptResult:
    """Return a retry for a row whose every provider has an open circuit."""
    error = ProviderUnavailable(
        f"Every provider of route {route.name!r} has an open circuit "
        f"({', '.join(route.providers)}): the SMS waits for a retry."
    )
    return AttemptResult(
        row,
        RETRY,
        error_code="circuit_open",
        error_text=f"{type(error).__name__}: {error}",
        error=error,
    )


def _tag(results: list[AttemptResult], alias: str) -> None:
    """Record on ``results`` the provider alias they went through."""
    for result in results:
        if not result.provider:
            result.provider = alias


def connection_for(alias: str, default: BaseSmsBackend) -> BaseSmsBackend:
    """Return this thread's open backend for ``alias``, built on first use.

    The drain thread's own backend serves its alias; the others are kept
    until ``close_connections()``.
    """
    if alias == default.alias:
        return default
    cache: dict[str, BaseSmsBackend] = _local.__dict__.setdefault("backends", {})
    if alias not in cache:
        backend = sms.get_connection(alias)
        backend.open()
        cache[alias] = backend
    return cache[alias]


def close_connections() -> None:
    """Close the backends ``connection_for()`` opened in this thread."""
    for backend in _local.__dict__.pop("backends", {}).values():
        backend.close()
