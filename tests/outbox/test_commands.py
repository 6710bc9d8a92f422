"""Tests for the send_queued_sms and purge_sms_outbox commands, and the actions."""

import datetime
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase, override_settings
from django.utils import timezone

import sms
from sms_outbox.models import Attempt, Message

A, B = "+441134960000", "+441134960999"


def make_row(**fields):
    values = {"batch_id": uuid.uuid4(), "body": "Hi", "recipient": A}
    values.update(fields)
    values.setdefault("reference", uuid.uuid4().hex)
    return Message.objects.create(**values)


class SendQueuedSmsTests(TestCase):
    def setUp(self):
        sms.outbox = []

    def call(self, *args):
        out, err = io.StringIO(), io.StringIO()
        call_command("send_queued_sms", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_prints_one_summary_line(self):
        make_row()
        make_row(recipient=B)
        out, err = self.call()
        self.assertRegex(out, r"^sent 2, retrying 0, failed 0 in \d+\.\d s\n$")
        self.assertEqual((err, len(sms.outbox)), ("", 2))

    def test_verbosity_zero_prints_nothing(self):
        make_row()
        self.assertEqual(self.call("-v", "0"), ("", ""))
        self.assertEqual(len(sms.outbox), 1)

    def test_options_reach_the_engine(self):
        for _ in range(5):
            make_row()
        out, _ = self.call("--limit", "3", "--batch-size", "2", "--rate", "1000")
        self.assertTrue(out.startswith("sent 3,"))
        self.assertEqual(Message.objects.queued().count(), 2)

    @override_settings(SMS_OUTBOX_BACKEND=None)
    def test_missing_backend_is_a_command_error(self):
        make_row()
        with pytest.raises(CommandError, match="SMS_OUTBOX_BACKEND"):
            self.call()
        self.assertEqual(Message.objects.get().status, "queued")


class PurgeTests(TestCase):
    def test_deletes_only_old_final_rows_with_their_attempts(self):
        old = timezone.now() - datetime.timedelta(days=40)
        recent = timezone.now() - datetime.timedelta(days=2)
        doomed = [
            make_row(status=status, finished_at=old)
            for status in ("sent", "failed", "cancelled")
        ]
        kept = [
            make_row(status="sent", finished_at=recent),
            make_row(status="queued", finished_at=old),
            make_row(status="sending", finished_at=old),
            make_row(status="queued"),
        ]
        for row in doomed + kept:
            Attempt.objects.create(message=row, outcome="sent")
        out = io.StringIO()
        call_command("purge_sms_outbox", "--days", "30", stdout=out)
        self.assertEqual(out.getvalue(), "Deleted 3 outbox SMS.\n")
        self.assertEqual(
            set(Message.objects.values_list("pk", flat=True)), {r.pk for r in kept}
        )
        self.assertEqual(Attempt.objects.count(), 4)

    def test_batches(self):
        old = timezone.now() - datetime.timedelta(days=3)
        for _ in range(5):
            make_row(status="sent", finished_at=old)
        self.assertEqual(Message.objects.purge(1, batch_size=2), 5)
        self.assertFalse(Message.objects.exists())

    def test_negative_days(self):
        with pytest.raises(CommandError, match="--days"):
            call_command("purge_sms_outbox", "--days", "-1")


class ActionTests(TestCase):
    def test_resend_copies_final_rows_only(self):
        sent = make_row(status="sent", priority=3, originator="Acme")
        make_row(status="queued")
        make_row(status="sending")
        failed = make_row(status="failed", recipient=B)
        count = Message.objects.filter(pk__in=[sent.pk, failed.pk]).resend()
        self.assertEqual(count, 2)
        copies = Message.objects.exclude(pk__lte=failed.pk).order_by("pk")
        self.assertEqual(
            [
                (c.recipient, c.status, c.attempts, c.priority, c.originator)
                for c in copies
            ],
            [(A, "queued", 0, 3, "Acme"), (B, "queued", 0, 0, "")],
        )
        self.assertEqual(copies[0].batch_id, sent.batch_id)
        self.assertNotEqual(copies[0].reference, sent.reference)
        self.assertEqual(Message.objects.filter(status="queued").resend(), 0)
        sent.refresh_from_db()
        self.assertEqual(sent.status, "sent")

    def test_cancel_touches_queued_rows_only(self):
        queued = make_row()
        sending = make_row(status="sending")
        sent = make_row(status="sent")
        self.assertEqual(Message.objects.all().cancel(), 1)
        queued.refresh_from_db()
        self.assertEqual(queued.status, "cancelled")
        self.assertIsNotNone(queued.finished_at)
        self.assertEqual(
            [Message.objects.get(pk=r.pk).status for r in (sending, sent)],
            ["sending", "sent"],
        )

    def test_retry_now(self):
        later = timezone.now() + datetime.timedelta(hours=1)
        failed = make_row(status="failed", attempts=5, finished_at=timezone.now())
        waiting = make_row(attempts=2, next_attempt_at=later)
        fresh = make_row(next_attempt_at=later)
        make_row(status="sent")
        self.assertEqual(Message.objects.all().retry_now(), 2)
        failed.refresh_from_db()
        waiting.refresh_from_db()
        self.assertEqual(
            (failed.status, failed.attempts, failed.finished_at), ("queued", 5, None)
        )
        self.assertEqual(waiting.attempts, 2)
        self.assertEqual(
            set(Message.objects.queued().due().values_list("pk", flat=True)),
            {failed.pk, waiting.pk},
        )
        fresh.refresh_from_db()
        self.assertEqual(fresh.next_attempt_at, later)


@pytest.mark.parametrize(
    "option, value",
    [
        ("--concurrency", "0"),
        ("--batch-size", "-5"),
        ("--limit", "0"),
        ("--rate", "0"),
        ("--interval", "-1"),
    ],
)
def test_send_queued_sms_refuses_bad_option_values(option, value):
    with pytest.raises(CommandError, match=rf"^{option} must be greater than 0, not"):
        call_command("send_queued_sms", option, value)


ROOT = Path(__file__).resolve().parents[2]


def test_send_queued_sms_help_gives_every_option_a_text_and_its_default():
    """The real ``--help``, as a user reads it, from a ``manage.py`` process."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    done = subprocess.run(
        [sys.executable, "-m", "django", "send_queued_sms", "--help"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    expected = {
        "--limit LIMIT": "Send at most this many SMS per run (default: no limit).",
        "--batch-size BATCH_SIZE": "(default: 500).",
        "--rate RATE": "per second, for every drain of the site together "
        "(default: SMS_OUTBOX_RATE).",
        "--concurrency CONCURRENCY": "(default: SMS_OUTBOX_MAX_IN_FLIGHT, 32).",
        "--loop": "(default: one run, for cron).",
        "--interval INTERVAL": "the seconds to wait between runs (default: 5.0).",
    }
    # One entry per option: its line, then the lines argparse wrapped it to.
    entries = []
    for line in done.stdout.split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries:
            entries[-1] += line
    options = [" ".join(entry.split()) for entry in entries]
    for flag, help_text in expected.items():
        entry = next((o for o in options if o.startswith(flag + " ")), None)
        assert entry is not None, (flag, options)
        assert help_text in entry, entry


class SqliteLockingWarningTests(TestCase):
    """``sms_outbox.W001`` is printed by the drain with threads, not elsewhere."""

    def setUp(self):
        if connection.vendor != "sqlite":
            self.skipTest("SQLite only")
        options = connection.settings_dict["OPTIONS"]
        saved = dict(options)
        self.addCleanup(lambda: (options.clear(), options.update(saved)))
        options["transaction_mode"] = "DEFERRED"

    def call(self, *args):
        out, err = io.StringIO(), io.StringIO()
        call_command("send_queued_sms", *args, stdout=out, stderr=err, no_color=True)
        return out.getvalue(), err.getvalue()

    def test_printed_with_concurrency(self):
        from tests.outbox.test_checks import sqlite_locking_warning

        out, err = self.call("--concurrency", "2", "-v", "0")
        self.assertEqual((out, err), ("", str(sqlite_locking_warning()) + "\n"))

    def test_not_printed_for_one_drain_at_a_time(self):
        self.assertEqual(self.call("-v", "0"), ("", ""))

    @override_settings(SILENCED_SYSTEM_CHECKS=["sms_outbox.W001"])
    def test_silenced_like_a_system_check(self):
        self.assertEqual(self.call("--concurrency", "2", "-v", "0"), ("", ""))

    def test_not_a_check_of_every_command(self):
        err = io.StringIO()
        call_command("check", stderr=err, stdout=io.StringIO())
        self.assertNotIn("W001", err.getvalue())
