"""The demo page's per-user rate limit, DEMO_SMS_PER_MINUTE SMS parts a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from example_project.demo.limits import SendLimitExceeded, parts_to_send, reserve_sms
from example_project.demo.models import Submission
from sms_outbox.models import Message as OutboxMessage
from tests.example.conftest import DEMO_PERMISSIONS, grant

pytestmark = pytest.mark.django_db

NUMBERS = [f"+1206555{n:04d}" for n in range(100, 112)]


@pytest.fixture(autouse=True)
def _originator(settings):
    settings.DEFAULT_FROM_SMS = "DjangoSMS"


def _post(client, numbers, body="Hi"):
    return client.post("/", {"recipients": "\n".join(numbers), "body": body})


def test_the_eleventh_sms_in_a_minute_is_refused(staff_client):
    for number in NUMBERS[:10]:
        assert _post(staff_client, [number]).status_code == 302
    response = _post(staff_client, [NUMBERS[10]])
    assert response.status_code == 200
    assert (
        "You can queue at most 10 SMS parts a minute and have queued 10 in the "
        "last minute, so nothing was queued: wait a minute and try again."
    ) in response.content.decode()
    assert OutboxMessage.objects.count() == 10
    assert not OutboxMessage.objects.filter(recipient=NUMBERS[10]).exists()


def test_a_post_that_would_go_over_queues_none_of_its_sms(staff_client):
    assert _post(staff_client, NUMBERS[:8]).status_code == 302
    response = _post(staff_client, NUMBERS[8:11])
    assert (
        "have queued 8 in the last minute, so nothing was queued: wait a "
        "minute, or queue at most 2 parts (fewer recipients or a shorter text)."
    ) in response.content.decode()
    assert OutboxMessage.objects.count() == 8
    # Exactly up to the limit is allowed.
    assert _post(staff_client, NUMBERS[8:10]).status_code == 302
    assert OutboxMessage.objects.count() == 10


def test_one_post_over_the_limit_is_refused_whole(staff_client):
    response = _post(staff_client, NUMBERS[:11])
    assert "have queued 0 in the last minute" in response.content.decode()
    assert OutboxMessage.objects.count() == 0
    assert Submission.objects.count() == 0


def test_sends_older_than_a_minute_no_longer_count(staff_client, staff_user):
    _post(staff_client, NUMBERS[:10])
    Submission.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert _post(staff_client, [NUMBERS[10]]).status_code == 302
    assert OutboxMessage.objects.count() == 11
    # The expired row was dropped, so the table does not grow.
    assert list(Submission.objects.values_list("sms_count", flat=True)) == [1]


def test_the_limit_is_per_user(staff_client):
    _post(staff_client, NUMBERS[:10])
    other = Client()
    other.force_login(
        grant(User.objects.create_user("other", is_staff=True), *DEMO_PERMISSIONS)
    )
    assert _post(other, [NUMBERS[10]]).status_code == 302
    assert "wait a minute" in _post(staff_client, [NUMBERS[11]]).content.decode()
    assert OutboxMessage.objects.count() == 11


@override_settings(DEMO_SMS_PER_MINUTE=2)
def test_the_limit_is_the_setting(staff_client):
    assert _post(staff_client, NUMBERS[:2]).status_code == 302
    content = _post(staff_client, [NUMBERS[2]]).content.decode()
    assert "You can queue at most 2 SMS parts a minute" in content
    assert OutboxMessage.objects.count() == 2


def test_a_send_that_fails_gives_its_reservation_back(staff_client, settings):
    settings.DEFAULT_FROM_SMS = ""
    for _ in range(3):
        content = _post(staff_client, NUMBERS[:10]).content.decode()
        assert "is not a valid originator" in content
    assert Submission.objects.count() == 0
    settings.DEFAULT_FROM_SMS = "DjangoSMS"
    assert _post(staff_client, NUMBERS[:10]).status_code == 302
    assert OutboxMessage.objects.count() == 10


def test_parts_count_not_messages(staff_client):
    # 161 GSM-7 characters go out as two parts: five messages are ten parts.
    long_body = "x" * 161
    for number in NUMBERS[:5]:
        assert _post(staff_client, [number], long_body).status_code == 302
    content = _post(staff_client, [NUMBERS[5]]).content.decode()
    assert "have queued 10 in the last minute" in content
    assert OutboxMessage.objects.count() == 5
    assert list(Submission.objects.values_list("sms_count", flat=True)) == [2] * 5


def test_one_long_message_to_several_recipients_counts_every_part(staff_client):
    # 4 recipients x 3 parts (UCS-2, 67 a part) = 12 parts: over 10.
    response = _post(staff_client, NUMBERS[:4], "ł" * 201)
    assert "have queued 0 in the last minute" in response.content.decode()
    assert "queue at most 10 parts" in response.content.decode()
    assert OutboxMessage.objects.count() == 0


def test_parts_to_send():
    assert parts_to_send("Hi", 3) == 3
    assert parts_to_send("x" * 161, 3) == 6
    assert parts_to_send("👍" * 36, 1) == 2


def test_reserve_sms_raises_before_running_the_block(staff_user):
    ran = []
    with reserve_sms(staff_user, 10):
        ran.append(1)
    with pytest.raises(SendLimitExceeded), reserve_sms(staff_user, 1):
        ran.append(2)
    assert ran == [1]


def test_makemigrations_is_clean():
    call_command("makemigrations", "demo", check=True, dry_run=True, verbosity=0)
