"""Outbox test fixtures: real outbox processes on a database the test shares."""

import os

import pytest

from tests.support.shared import Shared, shared_database


@pytest.fixture
def shared(tmp_path):
    """Return a helper that runs outbox processes on the shared database."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.support.proc_settings",
        OUTBOX_RECORD_FILE=str(tmp_path / "deliveries.log"),
    )
    env["OUTBOX_DB"] = shared_database(tmp_path)
    return Shared(env, tmp_path / "deliveries.log")
