"""The demo page's newest inbound SMS: staff only, numbers masked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from sms.phone import mask_phone_number
from sms_outbox.models import InboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(staff_client):
    """Make the tests' default client the page's audience: a staff user."""
    return staff_client


@pytest.fixture
def replies():
    """Store twelve inbound SMS, one a minute, the newest a STOP."""
    start = timezone.now() - timedelta(hours=1)
    for n in range(12):
        InboundMessage.objects.create(
            provider="twilio",
            provider_message_id=f"SM{n:032d}",
            sender=f"+4479111234{n:02d}",
            recipient="+12065550100",
            body="STOP" if n == 11 else f"Reply number {n}",
            action="opt_out" if n == 11 else "",
            received_at=start + timedelta(minutes=n),
        )


def test_staff_see_the_ten_newest_inbound_sms_masked(client, replies):
    content = client.get("/").content.decode()
    inbound = content.split('id="inbound"', 1)[1].split("</table>", 1)[0]
    senders = [f"+4479111234{n:02d}" for n in range(11, 1, -1)]
    masked = [mask_phone_number(number) for number in senders]
    found = [part.split('"', 1)[0] for part in inbound.split('data-sender="')[1:]]
    assert found == masked  # newest first, ten of them
    assert not any(number in content for number in senders)
    assert 'data-action="opt_out"' in inbound and "<td>opt-out</td>" in inbound
    assert "Reply number 10" in inbound and "Reply number 1<" not in inbound


def test_no_inbound_sms_says_so(client):
    assert "No SMS received yet." in client.get("/").content.decode()


@pytest.mark.parametrize("staff", [False, None])
def test_replies_are_not_shown_to_anonymous_visitors_or_non_staff(staff, replies):
    visitor = Client()
    if staff is False:
        visitor.force_login(User.objects.create_user("member", password="pw"))
    response = visitor.get("/")
    assert response.status_code == 302
    content = response.content.decode()
    assert "Reply number" not in content and "+4479111234" not in content
