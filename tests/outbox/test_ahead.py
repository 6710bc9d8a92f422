"""Tests for sms_outbox.ahead: the next claim, sent while the current one is sent.

Real PostgreSQL only (claims ahead go over the writer's connection), outside
a test transaction.
"""

import random
import threading
import uuid
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

import sms
from sms.signals import post_send
from sms_outbox import engine
from sms_outbox.ahead import ClaimAhead
from sms_outbox.models import Attempt, Message

pytest.importorskip("psycopg")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="claims ahead are for PostgreSQL"
    ),
]

LOCMEM = "sms.backends.locmem.SmsBackend"


def _queue(count, priority=lambda n: 0):
    now = timezone.now()
    return Message.objects.bulk_create(
        Message(
            batch_id=uuid.uuid4(),
            body=f"Hi {n}",
            recipient=f"+4411349{n:05d}",
            next_attempt_at=now,
            reference=uuid.uuid4().hex,
            priority=priority(n),
        )
        for n in range(count)
    )


def _claims_ahead():
    return mock.patch.object(
        ClaimAhead, "claim", autospec=True, side_effect=ClaimAhead.claim
    )


@override_settings(SMS_OUTBOX_BACKEND=LOCMEM)
def test_rows_claimed_ahead_go_out_once_each_in_send_order():
    rng = random.Random(7)
    rows = _queue(600, priority=lambda n: rng.choice([0, 0, 1, 5]))
    sms.outbox = []
    with _claims_ahead() as claimed:
        result = engine.send_queued()
    assert claimed.call_count >= 2  # the claims after the first were made ahead
    assert result.sent == 600
    order = sorted(rows, key=lambda row: (-row.priority, row.pk))
    assert [m.body for m in sms.outbox] == [row.body for row in order]
    assert Message.objects.filter(status="sent").count() == 600
    assert Attempt.objects.count() == 600


@override_settings(SMS_OUTBOX_BACKEND=LOCMEM)
def test_a_claim_made_ahead_goes_back_unsent_when_the_run_stops():
    _queue(2000)
    sms.outbox = []
    stop = threading.Event()
    made, make = [], ClaimAhead.__init__

    def claim_ahead(self, *args):
        make(self, *args)
        made.append(self)

    def stop_once_two_were_made(sender, instance, **kwargs):
        if len(made) == 2:  # the second is in flight: stop before it is read
            stop.set()

    post_send.connect(stop_once_two_were_made)
    try:
        with (
            mock.patch.object(ClaimAhead, "__init__", claim_ahead),
            _claims_ahead() as claimed,
        ):
            result = engine.send_queued(stop=stop)
    finally:
        post_send.disconnect(stop_once_two_were_made)
    # The first claim made ahead was sent; the second read only to give it back.
    assert (len(made), claimed.call_count) == (2, 2)
    statuses = dict(Message.objects.values_list("status").annotate(n=Count("pk")))
    assert statuses == {"sent": result.sent, "queued": 2000 - result.sent}
    assert result.sent == len(sms.outbox)
    waiting = Message.objects.filter(status="queued")
    assert set(waiting.values_list("attempts", "claimed_by")) == {(0, "")}
    assert not Attempt.objects.filter(message__status="queued").exists()
