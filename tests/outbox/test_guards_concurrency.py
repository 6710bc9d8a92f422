"""Send guard counters stay exact when real processes and threads enqueue at once.

Three processes of four threads each queue SMS to one number prefix on the
database the test shares with them (a SQLite file, or the PostgreSQL or
MariaDB test database under ``DATABASE_URL``), half in transactions of
their own and half in autocommit. The prefix limit lets exactly that many
through, whatever the interleaving; the counter holds exactly what was
queued.
"""

import json
import subprocess
import sys

import pytest
from django.db import connection

from sms_outbox.models import GuardCounter, Message
from tests.support.processes import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROCESSES, THREADS, EACH = 3, 4, 25
LIMIT = 130  # of 300 requests
FIRST = 447400100000  # +447400100000 onwards: one prefix of 10,000 numbers


def _guards(limit):
    return json.dumps(
        {"limits": {"prefix": f"{limit}/d", "recipient": "1/d"}, "prefix_digits": 4}
    )


def _start(shared, index, limit):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.guard_child",
            str(THREADS),
            str(EACH),
            str(FIRST + index * THREADS * EACH),
        ],
        env={**shared.env, "GUARDS": _guards(limit)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(shared, limit):
    shared.seed(0)  # migrates a SQLite file
    children = [_start(shared, i, limit) for i in range(PROCESSES)]
    totals = {"queued": 0, "refused": 0}
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        for key, value in json.loads(out.strip().splitlines()[-1]).items():
            totals[key] += value
    return totals


def _rows_and_counter(shared):
    if connection.vendor == "sqlite":
        # The children wrote to a file of their own; read it there.
        done = shared.run(
            "-c",
            "import django, json; django.setup(); "
            "from sms_outbox.models import GuardCounter, Message; "
            "print(json.dumps([Message.objects.filter(status='queued').count(), "
            "list(GuardCounter.objects.filter(key__startswith='prefix|')"
            ".values_list('hits', flat=True))]))",
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    queued = Message.objects.filter(status=Message.Status.QUEUED).count()
    hits = list(
        GuardCounter.objects.filter(key__startswith="prefix|").values_list(
            "hits", flat=True
        )
    )
    return [queued, hits]


def test_a_prefix_limit_lets_exactly_its_count_through(shared):
    totals = _run(shared, LIMIT)
    assert totals == {"queued": LIMIT, "refused": PROCESSES * THREADS * EACH - LIMIT}
    queued, hits = _rows_and_counter(shared)
    assert queued == LIMIT
    assert hits == [LIMIT]


def test_under_the_limit_every_send_is_counted_once(shared):
    total = PROCESSES * THREADS * EACH
    totals = _run(shared, total + 1)
    assert totals == {"queued": total, "refused": 0}
    assert _rows_and_counter(shared) == [total, [total]]
