"""The demo page, through the Django test client: queue, validate, list."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

import sms
from sms.segments import count_segments
from sms_outbox.models import Message as OutboxMessage

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("delivery_backend"),
]


@pytest.fixture
def delivery_backend():
    # SMS_BACKEND in the test settings is locmem: the page must queue anyway.
    sms.outbox = []
    with override_settings(
        SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
        DEFAULT_FROM_SMS="DjangoSMS",
    ):
        yield


def _post(client, recipients, body="Hello", follow=True):
    return client.post(
        reverse("demo:index"), {"recipients": recipients, "body": body}, follow=follow
    )


def test_get_shows_the_form_and_an_empty_outbox(client):
    response = client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="recipients"' in content and 'name="body"' in content
    assert "The outbox is empty." in content


def test_post_queues_one_row_per_recipient_and_sends_nothing(client):
    response = _post(
        client, "+441134960000, +12065550100\n+1 (206) 555-0101\n", follow=False
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    rows = OutboxMessage.objects.order_by("id")
    assert [row.recipient for row in rows] == [
        "+441134960000",
        "+12065550100",
        "+12065550101",
    ]
    assert {row.status for row in rows} == {OutboxMessage.Status.QUEUED}
    assert len({row.batch_id for row in rows}) == 1
    # The request talked to no backend that delivers.
    assert sms.outbox == []


def test_redirect_says_how_many_were_queued_and_lists_them(client):
    response = _post(client, "+441134960000\n+31612345678")
    content = response.content.decode()
    assert "Queued 2 messages." in content
    assert 'data-recipient="+31612345678" data-status="queued"' in content


def test_duplicate_numbers_are_queued_once(client):
    _post(client, "+441134960000, +44 113 496 0000")
    assert OutboxMessage.objects.count() == 1


def test_invalid_numbers_are_named_and_nothing_is_queued(client):
    response = _post(client, "+441134960000, +4411, 12345")
    assert response.status_code == 200
    content = response.content.decode()
    assert "&#x27;+4411&#x27; is not a valid phone number" in content
    assert "&#x27;12345&#x27; is not a valid phone number" in content
    assert "Queued" not in content
    assert OutboxMessage.objects.count() == 0
    # The form keeps what was typed.
    assert "+441134960000, +4411, 12345" in content


def test_empty_fields_are_errors(client):
    response = _post(client, " , \n", body="  ")
    content = response.content.decode()
    assert "Enter at least one phone number." in content
    assert "The message is empty." in content
    assert OutboxMessage.objects.count() == 0


@override_settings(SMS_MAX_SEGMENTS=1)
def test_a_body_over_sms_max_segments_is_refused(client):
    response = _post(client, "+441134960000", body="x" * 161)
    assert "The message needs 2 parts; the limit is 1." in response.content.decode()
    assert OutboxMessage.objects.count() == 0


@override_settings(DEFAULT_FROM_SMS="")
def test_an_unusable_originator_is_a_form_error_and_nothing_is_queued(client):
    response = _post(client, "+441134960000")
    assert "is not a valid originator" in response.content.decode()
    assert OutboxMessage.objects.count() == 0


def test_browser_line_breaks_are_stored_as_lf(client):
    _post(client, "+441134960000", body="line one\r\nline two")
    assert OutboxMessage.objects.get().body == "line one\nline two"


def test_rerendered_form_shows_the_server_side_count_and_encoding(client):
    body = "€" * 81  # 162 septets: two parts of GSM-7
    response = _post(client, "+4411", body=body)
    content = response.content.decode()
    assert '<span id="segments">2</span>' in content
    assert '<span id="encoding">GSM-7</span>' in content
    assert count_segments(body) == 2


def test_lists_only_the_20_newest_rows(client):
    connection = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for number in range(25):
        sms.send_sms(
            f"message {number}", None, ["+441134960000"], connection=connection
        )
    content = client.get("/").content.decode()
    assert content.count('data-recipient="+441134960000"') == 20
    assert "message 24" in content
    assert "message 4<" not in content
