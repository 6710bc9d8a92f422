"""Expiry (sms_outbox.expiry): an SMS past its time to live is never sent.

Also the rest of the timing work seen from the outbox: smart encoding at
queue time and each row's parts and cost in the admin.
"""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

import sms
from sms.exceptions import SmsConfigurationError
from sms_outbox.drain import send_queued
from sms_outbox.drain.claims import claim_rows
from sms_outbox.drain.sending import send_rows
from sms_outbox.expiry import EXPIRED_TEXT, expire_overdue, expires_at_for
from sms_outbox.models import Attempt, Message
from tests.support.outbox_backends import ScriptedBackend

pytestmark = pytest.mark.django_db

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
SCRIPTED = "tests.support.outbox_backends.ScriptedBackend"
LONDON = "+441134960000"


@pytest.fixture(autouse=True)
def scripted(settings):
    settings.SMS_OUTBOX_BACKEND = SCRIPTED
    ScriptedBackend.reset()


def _queue(body="Code 1234", kind="otp", **options):
    connection = sms.get_connection(QUEUED, **options)
    sms.Message(body, "Acme", [LONDON], connection, kind=kind).send()
    return Message.objects.latest("id")


def _age(row, seconds):
    """Move the row's expiry ``seconds`` into the past."""
    past = timezone.now() - datetime.timedelta(seconds=seconds)
    Message.objects.filter(pk=row.pk).update(expires_at=past)


def test_ttl_and_expires_at_are_stored_on_the_row():
    before = timezone.now()
    row = _queue(ttl=600)
    assert before + datetime.timedelta(seconds=600) <= row.expires_at
    assert row.expires_at <= timezone.now() + datetime.timedelta(seconds=600)
    at = timezone.now() + datetime.timedelta(hours=1)
    assert _queue("Other", expires_at=at).expires_at == at
    assert _queue("Forever", kind="").expires_at is None


def test_settings_give_defaults_per_kind(settings):
    settings.SMS_OUTBOX_TTL = {"otp": 300, "*": datetime.timedelta(days=1)}
    now = timezone.now()
    assert expires_at_for("otp", now) == now + datetime.timedelta(seconds=300)
    assert expires_at_for("news", now) == now + datetime.timedelta(days=1)
    assert expires_at_for("", now) == now + datetime.timedelta(days=1)
    # An explicit ttl or expiry wins.
    assert expires_at_for("otp", now, ttl=60) == now + datetime.timedelta(seconds=60)
    assert expires_at_for("otp", now, expires_at=now) == now
    row = _queue(kind="otp")
    assert row.expires_at - row.created_at < datetime.timedelta(seconds=301)


@pytest.mark.parametrize("value", [0, -5, "10m", True])
def test_a_bad_ttl_is_refused(settings, value):
    with pytest.raises(ValueError, match="ttl is"):
        sms.get_connection(QUEUED, ttl=value)
    settings.SMS_OUTBOX_TTL = {"otp": value}
    with pytest.raises(SmsConfigurationError, match="SMS_OUTBOX_TTL\\['otp'\\] is"):
        expires_at_for("otp", timezone.now())


def test_the_drain_never_sends_an_expired_row():
    row = _queue(ttl=600)
    fresh = _queue("Still good", ttl=600)
    _age(row, 1)
    result = send_queued()
    assert result.sent == 1
    assert [m.body for m in ScriptedBackend.sent] == ["Still good"]
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("expired", EXPIRED_TEXT)
    assert row.finished_at is not None and row.is_final
    [attempt] = row.attempts_log.all()
    assert (attempt.outcome, attempt.error_text) == ("expired", EXPIRED_TEXT)
    fresh.refresh_from_db()
    assert fresh.status == "sent"
    # Nothing more to do: the expired row is never claimed again.
    assert send_queued().total == 0


def test_the_sweep_marks_only_queued_overdue_rows():
    overdue = _queue(ttl=600)
    _age(overdue, 1)
    sent = _queue("Sent", ttl=600)
    Message.objects.filter(pk=sent.pk).update(status="sent")
    _age(sent, 1)
    assert expire_overdue() == 1
    assert expire_overdue() == 0
    assert dict(Message.objects.values_list("body", "status")) == {
        "Code 1234": "expired",
        "Sent": "sent",
    }
    assert Attempt.objects.filter(outcome="expired").count() == 1


def test_a_row_that_expires_while_claimed_is_not_sent():
    """The check right before the provider call: the row ran out in hand."""
    row = _queue(ttl=600)
    other = _queue("Still good", ttl=600)
    claim = claim_rows(10)
    assert len(claim.rows) == 2
    _age(row, 1)  # too late for the claim's own check
    rows = [
        r._replace(expires_at=timezone.now()) if r.id == row.pk else r
        for r in claim.rows
    ]
    results = send_rows(ScriptedBackend(), rows)
    assert {r.row.id: r.kind for r in results} == {row.pk: "expired", other.pk: "sent"}
    assert [m.body for m in ScriptedBackend.sent] == ["Still good"]
    expired = next(r for r in results if r.kind == "expired")
    assert expired.decision.status == "expired" and expired.decision.gave_up


def test_a_claim_never_takes_an_overdue_row_even_unswept():
    from sms_outbox.drain.claims import candidates

    row = _queue(ttl=600)
    _age(row, 1)
    assert list(candidates(frozenset())) == []


def test_smart_encoding_at_queue_time_records_what_it_replaced(settings):
    row = _queue("It’s here — 10% off…", kind="", smart_encoding=True)
    assert row.body == "It's here - 10% off..."
    assert row.replaced == "’ (U+2019) → \"'\"; — (U+2014) → '-'; … (U+2026) → '...'"
    plain = _queue("It’s plain", kind="")
    assert (plain.body, plain.replaced) == ("It’s plain", "")
    settings.SMS_SMART_ENCODING = True
    assert _queue("It’s on", kind="").body == "It's on"
    # The message's own choice beats the connection's and the setting.
    connection = sms.get_connection(QUEUED, smart_encoding=True)
    message = sms.Message("It’s off", "Acme", [LONDON], connection)
    message.smart_encoding = False
    message.send()
    assert Message.objects.get(body="It’s off").replaced == ""


def test_the_admin_shows_parts_and_cost(admin_client, settings):
    settings.SMS_PRICES = {"GB": "0.04"}
    row = Message.objects.create(
        batch_id=uuid.uuid4(),
        body="x" * 200,
        recipient=LONDON,
        reference=uuid.uuid4().hex,
        replaced="— (U+2014) → '-'",
    )
    url = reverse("admin:sms_outbox_message_change", args=[row.pk])
    page = admin_client.get(url).content.decode()
    assert "Parts · cost" in page
    assert f"2 · {Decimal('0.08')}" in page
    assert "U+2014" in page
    settings.SMS_PRICES = {}
    page = admin_client.get(url).content.decode()
    assert "2 · " not in page
