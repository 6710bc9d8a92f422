"""The commands behind `make demo`: demo_send and demo_admin."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from sms_outbox.models import Message

pytestmark = pytest.mark.django_db


def _call(name, **kwargs):
    out = io.StringIO()
    call_command(name, stdout=out, **kwargs)
    return out.getvalue()


def test_demo_send_queues_through_send_sms(settings):
    settings.SMS_BACKEND = "sms_outbox.backends.QueuedSmsBackend"
    settings.DEFAULT_FROM_SMS = "DjangoSMS"
    output = _call("demo_send")
    assert output.strip() == "Queued 4 SMS for 5 recipients with send_sms()."
    rows = Message.objects.all()
    assert rows.count() == 5
    assert {row.status for row in rows} == {Message.Status.QUEUED}
    assert {row.encoding for row in rows} == {"GSM-7", "UCS-2"}


def test_demo_admin_prints_a_generated_password_once(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    first = _call("demo_admin")
    password = re.search(r"password (\S+) \(generated; shown only this once\)", first)
    assert password
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password.group(1))
    assert "make run" in first

    second = _call("demo_admin")
    assert password.group(1) not in second
    assert "the password printed on the first run" in second
    assert User.objects.get(username="admin").check_password(password.group(1))


def test_demo_admin_takes_and_resets_the_password_from_the_environment(
    monkeypatch,
):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "first-pw")
    assert "the password from DEMO_ADMIN_PASSWORD" in _call("demo_admin")
    assert User.objects.get(username="admin").check_password("first-pw")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "second-pw")
    assert "(updated)" in _call("demo_admin")
    assert User.objects.get(username="admin").check_password("second-pw")
    assert User.objects.filter(username="admin").count() == 1
