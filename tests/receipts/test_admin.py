"""A message's admin page lists its delivery receipts, read-only."""

import datetime

import pytest
from django.urls import reverse

from sms_outbox.models import Receipt
from tests.support.receipts import make_row

pytestmark = pytest.mark.django_db


def test_receipts_are_shown_read_only_on_the_message_page(admin_client):
    row = make_row(provider_message_id="SM1")
    Receipt.objects.create(
        message=row,
        provider="twilio",
        status="undelivered",
        raw_status="undelivered",
        error_code="30003",
        reason="Unreachable handset",
        reported_at=datetime.datetime(2026, 5, 3, 8, 58, tzinfo=datetime.timezone.utc),
    )
    url = reverse("admin:sms_outbox_message_change", args=[row.pk])
    content = admin_client.get(url).content.decode()
    assert "delivery receipts" in content.lower()
    assert "Unreachable handset" in content
    assert "30003" in content
    assert 'name="receipts-0-error_code"' not in content  # not editable
    assert 'name="receipts-MAX_NUM_FORMS" value="0"' in content  # none to add
