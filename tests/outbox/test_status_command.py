"""Tests for sms_outbox_status: text, --json, and --max-age's exit status."""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sms_outbox.models import Attempt, Message
from tests.support.shared import shared_database

ROOT = Path(__file__).resolve().parent.parent.parent
Status = Message.Status


def _row(status=Status.QUEUED, **fields):
    fields.setdefault("next_attempt_at", timezone.now())
    return Message.objects.create(
        batch_id=uuid.uuid4(),
        body="Hi",
        recipient="+441134960000",
        status=status,
        reference=uuid.uuid4().hex,
        **fields,
    )


def _call(*args):
    out = io.StringIO()
    call_command("sms_outbox_status", *args, stdout=out)
    return out.getvalue()


def _ago(**delta):
    return timezone.now() - datetime.timedelta(**delta)


@pytest.fixture
def traffic(db):
    _row(next_attempt_at=_ago(minutes=10))
    _row(next_attempt_at=_ago(minutes=-10))
    _row(Status.SENDING, lease_expires_at=_ago(minutes=1))
    _row(Status.SENT, finished_at=_ago(minutes=5))
    _row(Status.SENT, finished_at=_ago(hours=3))
    failed = _row(Status.FAILED, finished_at=_ago(hours=2))
    Attempt.objects.create(
        message=failed, outcome="failed", error_code="21211", created_at=_ago(hours=2)
    )


def test_text_lists_the_figures(traffic):
    lines = _call().splitlines()
    assert lines[0].startswith("Outbox at ")
    assert lines[1:] == [
        "rows: queued 2, sending 1, sent 2, failed 1, cancelled 0, expired 0, "
        "blocked 0",
        lines[2],
        "sending past their lease: 1",
        "last hour: sent 1, failed 0",
        "last 24 h: sent 2, failed 1, retried 0",
        "error codes (24 h): 21211 ×1",
    ]
    assert re.fullmatch(r"due now: 1, the oldest waiting 6\d\d s", lines[2])


def test_json_carries_the_same_figures(traffic):
    data = json.loads(_call("--json"))
    assert data["by_status"] == {
        "queued": 2,
        "sending": 1,
        "sent": 2,
        "failed": 1,
        "cancelled": 0,
        "expired": 0,
        "blocked": 0,
    }
    assert (data["due"], data["lease_expired"]) == (1, 1)
    assert 600 <= data["oldest_due_seconds"] < 700
    assert data["last_hour"] == {"sent": 1, "failed": 0}
    assert data["last_24h"] == {"sent": 2, "failed": 1, "retried": 0}
    assert data["top_error_codes"] == [{"code": "21211", "count": 1}]
    assert "per_10_minutes" not in data


def test_json_is_small_without_the_series(traffic):
    default = _call("--json")
    assert len(default.encode()) < 1024, len(default.encode())
    with_series = json.loads(_call("--json", "--series"))
    assert len(with_series["per_10_minutes"]) == 144
    assert sum(b["sent"] for b in with_series["per_10_minutes"]) == 2
    moving = {"at", "oldest_due_seconds", "per_10_minutes"}  # the clock moved on
    assert {k: v for k, v in with_series.items() if k not in moving} == {
        k: v for k, v in json.loads(default).items() if k not in moving
    }


def test_series_needs_json(db):
    with pytest.raises(CommandError, match="--series needs --json"):
        _call("--series")


def test_nothing_due_is_said_so(db):
    _row(next_attempt_at=_ago(minutes=-10))  # queued, due in 10 minutes
    _row(Status.SENT, finished_at=_ago(minutes=5))
    lines = _call().splitlines()
    assert lines[2] == "due now: nothing"


def test_max_age_passes_while_the_oldest_due_row_is_younger(traffic):
    assert _call("--max-age", "3600").startswith("Outbox at ")


def test_max_age_fails_when_the_oldest_due_row_is_older(traffic):
    with pytest.raises(CommandError, match=r"waited 6\d\d s, more than --max-age"):
        _call("--max-age", "300")


def test_verbosity_zero_prints_nothing_but_the_error(traffic):
    assert _call("-v", "0", "--max-age", "3600") == ""
    with pytest.raises(CommandError, match="more than --max-age 1 s"):
        _call("-v", "0", "--max-age", "1")


def test_max_age_passes_on_an_empty_queue(db):
    assert json.loads(_call("--json", "--max-age", "0"))["due"] == 0


def test_a_negative_max_age_is_refused(db):
    with pytest.raises(CommandError, match="--max-age must be 0 or more seconds"):
        _call("--max-age", "-5")


@pytest.mark.django_db(transaction=True)
def test_the_process_exit_status_follows_max_age(tmp_path):
    """What a cron monitor or health check sees: a real ``manage.py`` process."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.support.proc_settings")
    env["OUTBOX_DB"] = shared_database(tmp_path)

    def run(*args):
        return subprocess.run(
            [sys.executable, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    seeded = run("-m", "tests.support.child", "seed", "3")
    assert seeded.returncode == 0, seeded.stderr
    young = run("-m", "django", "sms_outbox_status", "--max-age", "3600")
    assert (young.returncode, young.stderr) == (0, "")
    assert "due now: 3" in young.stdout
    # The seeded rows were due when queued, so they have waited more than 0 s.
    old = run("-m", "django", "sms_outbox_status", "--json", "--max-age", "0")
    assert old.returncode == 1
    assert "more than --max-age 0 s: is send_queued_sms running?" in old.stderr
    assert json.loads(old.stdout)["due"] == 3
