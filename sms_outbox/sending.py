"""Send the rows of one claim while the claim holds them, and settle the rest.

Rows that share a body and originator go out together, in one provider call
of up to ``backend.batch_size`` recipients (MessageBird takes 50), when
``SMS_OUTBOX_GROUP_SENDS`` is on; every row still gets its own result. A
grouped call refused as a whole for a reason retrying cannot fix (one invalid
number fails MessageBird's whole call) is sent again row by row. The rows of
a grouped call take its first row's reference before it goes out, so that
delivery reports (which carry the call's reference) find each of them. Before
each provider call the claim must have more than ``SMS_TIMEOUT`` (plus a
margin) of lease left; if not, the results so far are written and the lease
renewed. Rows a stop, an account error or an interruption left unsent go back
to the queue at once, without using an attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import DatabaseError

from sms.backends.base import BaseSmsBackend
from sms.conf import get_setting
from sms_outbox.claims import Claim, ClaimedRow, release_rows
from sms_outbox.delivery import GroupRefused, StopDraining, deliver
from sms_outbox.enforcement import refuse_opted_out
from sms_outbox.results import AttemptResult, Recorder
from sms_outbox.run import Run
from sms_outbox.writer import Writer

Group = list[ClaimedRow]

# Results and releases a run could not write because the database went away,
# kept for the next run in this process to write (their claims' leases may
# still hold; if not, the fenced writes change nothing).
_unsettled: list[tuple[Recorder, str, list[int]]] = []
_unsettled_lock = threading.Lock()


def send_claim(
    run: Run,
    backend: BaseSmsBackend,
    path: str,
    claim: Claim,
    writer: Writer | None = None,
    halfway: Callable[[int], None] | None = None,
) -> int:
    """Send the rows of ``claim``; return how many were tried.

    Rows whose number opted out since it was queued fail without a provider
    call (one query per claim). Results go through ``writer`` when given
    (``sms_outbox.writer``). ``halfway`` is called once, with the number
    tried, once half of the rows have been, right after a batch of results
    went out (so that the next batch finds the writer done with ``halfway``'s
    work), or at the last row.
    """
    recorder = Recorder(path, claim.token, writer)
    rows, refused = refuse_opted_out(claim.rows)
    _record(run, recorder, refused)
    groups = group_rows(rows, _group_size(backend))
    tried, started = 0, time.monotonic()
    try:
        while groups and not run.should_stop():
            run.throttle(len(groups[0]))
            if claim.time_left() <= run.guard:
                groups = _renew(run, claim, recorder, groups, started, tried)
                continue
            if len(groups[0]) > 1:
                shared = claim.share_reference(groups[0])
                if shared is None:  # the claim lost some: send what it holds alone
                    groups[:1] = [[row] for row in groups[0]]
                    continue
                groups[0] = shared
            try:
                results = deliver(backend, groups[0])
            except GroupRefused:
                groups[:1] = [[row] for row in groups[0]]
                continue
            except StopDraining as stop:
                _record(run, recorder, stop.results)
                sent = {result.row.id for result in stop.results}
                groups[0] = [row for row in groups[0] if row.id not in sent]
                run.fail(stop.error, account=True)
                break
            groups.pop(0)
            tried += len(results)
            flushed = _record(run, recorder, results, flush=len(results) > 1)
            done = tried >= len(claim.rows)
            if halfway and 2 * tried >= len(claim.rows) and (flushed or done):
                halfway(tried)
                halfway = None
    finally:
        _settle(recorder, claim.token, [row.id for group in groups for row in group])
    return tried


def group_rows(rows: list[ClaimedRow], size: int) -> list[Group]:
    """Return ``rows`` in groups that can share one provider call.

    A group holds rows with the same body and originator, each to a different
    number, at most ``size`` of them; groups keep the order of their first row.
    """
    groups: list[Group] = []
    open_groups: dict[tuple[str, str], Group] = {}
    for row in rows:
        key = (row.body, row.originator)
        group = open_groups.get(key)
        if (
            group is None
            or len(group) >= size
            or any(other.recipient == row.recipient for other in group)
        ):
            group = open_groups[key] = []
            groups.append(group)
        group.append(row)
    return groups


def _group_size(backend: BaseSmsBackend) -> int:
    if not get_setting("SMS_OUTBOX_GROUP_SENDS"):
        return 1
    return max(1, int(getattr(backend, "batch_size", 1) or 1))


def _record(
    run: Run, recorder: Recorder, results: list[AttemptResult], flush: bool = False
) -> bool:
    """Count and buffer ``results``; write them at once if ``flush``.

    Return True if a batch of results was written (or sent to be written).

    A grouped call's results are written at once, so that its rows carry the
    provider's message id before most delivery reports can arrive.
    """
    flushed = False
    for result in results:
        run.count(result)
        flushed = recorder.add(result) or flushed
    if flush and recorder.pending:
        recorder.flush()
        flushed = True
    if flushed and run.progress:
        run.progress(run.result)
    return flushed


def _renew(
    run: Run,
    claim: Claim,
    recorder: Recorder,
    groups: list[Group],
    started: float,
    tried: int,
) -> list[Group]:
    """Write the results so far and renew the lease of the rows still to send.

    Keep only as many rows as the current pace can send within one lease (at
    least one group); the rest go back to the queue for other workers.
    """
    recorder.flush()
    wanted = _rows_per_lease(run, started, tried)
    keep = 1
    while keep < len(groups) and sum(map(len, groups[: keep + 1])) <= wanted:
        keep += 1
    release_rows(claim.token, [row.id for group in groups[keep:] for row in group])
    held_rows = [row for group in groups[:keep] for row in group]
    held = {row.id for row in claim.renew(held_rows)}
    run.give_back(sum(map(len, groups)) - len(held))
    kept = [[row for row in group if row.id in held] for group in groups[:keep]]
    return [group for group in kept if group]


def _rows_per_lease(run: Run, started: float, tried: int) -> int:
    """Return how many rows the pace so far can send within one fresh lease."""
    lease = float(get_setting("SMS_OUTBOX_LEASE_SECONDS")) - run.guard
    per_message = (time.monotonic() - started) / tried if tried else run.guard
    return max(1, int(lease / max(per_message, 1e-3)))


def _settle(recorder: Recorder, token: str, unsent: list[int]) -> None:
    """Write a claim's results and give back its unsent rows, or keep them."""
    try:
        recorder.flush()
        release_rows(token, unsent)
    except DatabaseError:
        with _unsettled_lock:
            _unsettled.append((recorder, token, unsent))
        raise


def settle_unsettled() -> None:
    """Write what earlier runs could not, before claiming anything new."""
    while True:
        with _unsettled_lock:
            if not _unsettled:
                return
            recorder, token, unsent = _unsettled.pop(0)
        try:
            recorder.flush()
            release_rows(token, unsent)
        except DatabaseError:
            with _unsettled_lock:
                _unsettled.insert(0, (recorder, token, unsent))
            raise
