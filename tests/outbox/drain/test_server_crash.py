"""A PostgreSQL server that crashes and restarts within the lease sends nothing twice.

A private PostgreSQL cluster (``benchmarks/server_crash.py``) is stopped the
way a crash stops it while a ``--loop`` worker drains it through the
recording backend, then started again: the worker writes the results it held
once the server is back, and every commit it made before the crash survived
it, so each SMS reaches the provider exactly once.
"""

import glob
import os
import shutil

import pytest
from django.db import connection

from benchmarks.server_crash import run

pytestmark = pytest.mark.slow


def _cluster_tools_missing():
    return not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not shutil.which(
        "runuser"
    )


@pytest.mark.skipif(
    _cluster_tools_missing() and not os.environ.get("CI"),
    reason="needs PostgreSQL's server binaries (initdb, pg_ctl) and runuser",
)
def test_a_crash_and_restart_within_the_lease_sends_nothing_twice():
    if connection.vendor != "postgresql":
        pytest.skip("runs on the PostgreSQL leg (DATABASE_URL=postgres://...)")
    row = run(300, "restart within the lease")
    assert "note" not in row, row
    assert row["SMS"] == 300
    assert row["provider calls"] == 300, row
    assert row["dup. explained"] == row["dup. unexplained"] == 0, row
    assert row["lost"] == row["stuck sending"] == 0, row
