"""The outbox admin, through the Django test client: list, edit, actions."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from django.contrib.admin import site
from django.contrib.auth.models import Permission, User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.urls import reverse
from django.utils import timezone

from sms_outbox.models import Attempt, Message

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:sms_outbox_message_changelist")
Status = Message.Status


def _row(recipient="+441134960000", status=Status.QUEUED, **fields):
    now = timezone.now()
    if status == Status.SENT:
        fields.setdefault("sent_at", now)
    if status in Message.FINAL_STATUSES:
        fields.setdefault("finished_at", now)
    fields.setdefault("body", f"Hello {recipient}")
    return Message.objects.create(
        batch_id=uuid.uuid4(),
        recipient=recipient,
        status=status,
        next_attempt_at=now,
        reference=uuid.uuid4().hex,
        **fields,
    )


def _change_url(row):
    return reverse("admin:sms_outbox_message_change", args=[row.pk])


def _act(client, action, rows):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [row.pk for row in rows]},
        follow=True,
    )


def _messages(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def staff_viewer(client):
    """Log in a staff user who may view the outbox but not change it."""
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(user)
    return user


def test_changelist_shows_the_columns(admin_client):
    _row(
        "+12065550100",
        Status.SENT,
        body="€" * 100,
        attempts=1,
        provider_message_id="SM0123456789",
        delivery_status=Message.DeliveryStatus.DELIVERED,
    )
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "+12065550100" in content
    # Badges carry their text; the class only adds the colour.
    assert '<span class="sms-badge sms-status-sent">sent</span>' in content
    assert '<span class="sms-badge sms-delivery-delivered">delivered</span>' in content
    # The preview is cut; the tooltip has the whole body.
    assert f'title="{"€" * 100}">{"€" * 79}…</span>' in content
    assert '<td class="field-attempts_count">1</td>' in content
    time = re.search(r'<td class="field-when"><time datetime="([^"]+)"', content)
    assert time is not None
    for header in ("body_preview", "status_badge", "delivery_badge", "when"):
        assert f"column-{header}" in content
    assert reverse("admin:sms_outbox_message_health") in content


def test_when_is_compact_and_the_tooltip_has_every_time(admin_client):
    row = _row(status=Status.SENT)
    last_year = timezone.now() - timezone.timedelta(days=400)
    Message.objects.filter(pk=row.pk).update(created_at=last_year)
    content = admin_client.get(CHANGELIST).content.decode()
    local = timezone.localtime(last_year)
    assert f'">{local:%Y-%m-%d}</time>' in content
    assert f"created: {local:%Y-%m-%d %H:%M:%S}" in content
    assert "sent: " in content and "finished: " in content


def test_no_delivery_report_shows_a_dash(admin_client):
    _row()
    content = admin_client.get(CHANGELIST).content.decode()
    assert '<td class="field-delivery_badge">–</td>' in content


def test_filters_by_status_and_delivery_status(admin_client):
    _row("+441134960000", Status.SENT, delivery_status="delivered")
    _row("+441134960999", Status.QUEUED)
    _row("+31612345678", Status.FAILED)
    sent = admin_client.get(CHANGELIST, {"status__exact": "sent"})
    assert [row.recipient for row in sent.context["cl"].result_list] == [
        "+441134960000"
    ]
    delivered = admin_client.get(CHANGELIST, {"delivery_status__exact": "delivered"})
    assert delivered.context["cl"].result_count == 1
    failed = admin_client.get(CHANGELIST, {"status__exact": "failed"})
    assert [row.recipient for row in failed.context["cl"].result_list] == [
        "+31612345678"
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("+12065550100", ["+12065550100"]),
        ("SMabc", ["+441134960000"]),
        ("dentist", ["+31612345678"]),
    ],
)
def test_searches_recipient_provider_id_and_body(admin_client, query, expected):
    _row("+441134960000", Status.SENT, provider_message_id="SMabc")
    _row("+12065550100")
    _row("+31612345678", body="Your dentist appointment is tomorrow")
    response = admin_client.get(CHANGELIST, {"q": query})
    assert [row.recipient for row in response.context["cl"].result_list] == expected


def test_date_hierarchy_narrows_by_day(admin_client):
    _row()
    today = timezone.localdate()
    response = admin_client.get(
        CHANGELIST,
        {
            "created_at__year": today.year,
            "created_at__month": today.month,
            "created_at__day": today.day,
        },
    )
    assert response.context["cl"].result_count == 1
    response = admin_client.get(CHANGELIST, {"created_at__year": today.year - 1})
    assert response.context["cl"].result_count == 0


def test_attempt_log_is_shown_read_only(admin_client):
    row = _row(status=Status.FAILED, attempts=1, last_error="unreachable")
    Attempt.objects.create(
        message=row,
        outcome=Attempt.Outcome.FAILED,
        error_code="21211",
        error_text="The 'To' number is not valid",
        duration_ms=12.5,
    )
    response = admin_client.get(_change_url(row))
    content = response.content.decode()
    assert "21211" in content
    assert "The &#x27;To&#x27; number is not valid" in content
    assert 'name="attempts_log-0-error_code"' not in content
    assert 'name="attempts_log-MAX_NUM_FORMS" value="0"' in content
    assert re.search(r'<td class="field-duration">\s*<p>12.5</p>', content)


def test_sent_rows_are_read_only(admin_client):
    row = _row(status=Status.SENT, priority=0)
    response = admin_client.get(_change_url(row))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == []
    assert 'name="_save"' not in response.content.decode()
    admin_client.post(_change_url(row), {"priority": "9"})
    row.refresh_from_db()
    assert (row.priority, row.status) == (0, Status.SENT)


def test_a_queued_row_can_only_be_reprioritised(admin_client):
    row = _row(priority=0)
    response = admin_client.get(_change_url(row))
    assert list(response.context["adminform"].form.fields) == ["priority"]
    assert 'name="_save"' in response.content.decode()
    response = admin_client.post(
        _change_url(row),
        {
            "priority": "5",
            "body": "changed",
            "status": "sent",
            "attempts_log-TOTAL_FORMS": "0",
            "attempts_log-INITIAL_FORMS": "0",
            "receipts-TOTAL_FORMS": "0",
            "receipts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.priority, row.status, row.body) == (
        5,
        Status.QUEUED,
        "Hello +441134960000",
    )


def test_saving_never_requeues_a_row_a_drain_took_meanwhile(admin_client):
    row = _row(priority=0)
    admin_client.get(_change_url(row))
    # A drain sends the row while the form is open: the POST sees a sent row.
    Message.objects.filter(pk=row.pk).update(status=Status.SENT)
    admin_client.post(
        _change_url(row),
        {
            "priority": "5",
            "attempts_log-TOTAL_FORMS": "0",
            "attempts_log-INITIAL_FORMS": "0",
            "receipts-TOTAL_FORMS": "0",
            "receipts-INITIAL_FORMS": "0",
        },
    )
    row.refresh_from_db()
    assert (row.priority, row.status) == (0, Status.SENT)


def test_save_updates_only_while_the_row_is_still_queued(admin_user, rf):
    # The drain takes the row between the admin loading it and saving it.
    stale = _row(priority=0)
    Message.objects.filter(pk=stale.pk).update(status=Status.SENT)
    stale.priority = 5
    request = rf.post("/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    form = SimpleNamespace(changed_data=["priority"])
    model_admin = site._registry[Message]
    model_admin.save_model(request, stale, form, change=True)
    row = Message.objects.get(pk=stale.pk)
    assert (row.priority, row.status) == (0, Status.SENT)
    assert [str(m) for m in request._messages] == [
        "Not saved: the message left the queue while you edited it."
    ]


def test_rows_cannot_be_added_in_the_admin(admin_client):
    response = admin_client.get(reverse("admin:sms_outbox_message_add"))
    assert response.status_code == 403


def test_resend_queues_new_copies_and_keeps_the_originals(admin_client):
    sent = _row("+441134960000", Status.SENT, attempts=1, priority=3)
    failed = _row("+12065550100", Status.FAILED, attempts=5)
    queued = _row("+31612345678")
    response = _act(admin_client, "resend", [sent, failed, queued])
    assert _messages(response) == [
        "Queued 2 new copies for sending.",
        "1 selected message skipped: only sent, failed or cancelled messages can "
        "be resent.",
    ]
    copies = Message.objects.exclude(pk__in=[sent.pk, failed.pk, queued.pk])
    assert sorted((c.recipient, c.status, c.attempts) for c in copies) == [
        ("+12065550100", Status.QUEUED, 0),
        ("+441134960000", Status.QUEUED, 0),
    ]
    assert copies.get(recipient="+441134960000").priority == 3
    sent.refresh_from_db()
    failed.refresh_from_db()
    assert (sent.status, failed.status) == (Status.SENT, Status.FAILED)


def test_cancel_cancels_only_queued_rows(admin_client):
    queued = _row("+441134960000")
    sent = _row("+12065550100", Status.SENT)
    response = _act(admin_client, "cancel", [queued, sent])
    assert _messages(response) == [
        "Cancelled 1 message.",
        "1 selected message skipped: only queued messages can be cancelled.",
    ]
    queued.refresh_from_db()
    sent.refresh_from_db()
    assert (queued.status, sent.status) == (Status.CANCELLED, Status.SENT)
    assert queued.finished_at is not None


def test_retry_now_makes_failed_and_waiting_rows_due_keeping_attempts(admin_client):
    later = timezone.now() + timezone.timedelta(hours=1)
    failed = _row("+441134960000", Status.FAILED, attempts=5)
    waiting = _row("+12065550100", attempts=2)
    Message.objects.filter(pk=waiting.pk).update(next_attempt_at=later)
    fresh = _row("+31612345678")
    response = _act(admin_client, "retry_now", [failed, waiting, fresh])
    assert _messages(response)[0] == ("2 messages will be retried on the next drain.")
    for row in (failed, waiting):
        row.refresh_from_db()
        assert row.status == Status.QUEUED
        assert row.next_attempt_at <= timezone.now()
    assert (failed.attempts, waiting.attempts) == (5, 2)


def test_nothing_in_the_admin_talks_to_a_provider(admin_client, settings):
    # A delivering backend that cannot even be imported: any use would fail.
    settings.SMS_OUTBOX_BACKEND = "tests.no_such_module.SmsBackend"
    sent = _row(status=Status.SENT)
    queued = _row("+12065550100")
    for action, rows in (
        ("resend", [sent]),
        ("retry_now", [sent]),
        ("cancel", [queued]),
    ):
        assert _act(admin_client, action, rows).status_code == 200
    assert Message.objects.filter(status=Status.QUEUED).count() == 1


def test_actions_need_the_change_permission(client, staff_viewer):
    sent = _row(status=Status.SENT)
    queued = _row("+12065550100")
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "+12065550100" in response.content.decode()
    assert response.context["action_form"] is None or not [
        name
        for name, _ in response.context["action_form"].fields["action"].choices
        if name in ("resend", "cancel", "retry_now")
    ]
    for action, rows in (("resend", [sent]), ("cancel", [queued])):
        _act(client, action, rows)
    assert Message.objects.count() == 2
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED


def test_viewer_sees_a_row_but_cannot_change_it(client, staff_viewer):
    row = _row(priority=0)
    assert client.get(_change_url(row)).status_code == 200
    client.post(_change_url(row), {"priority": "7"})
    row.refresh_from_db()
    assert row.priority == 0


def test_queue_filter_due_waiting_and_lease_expired(admin_client):
    now = timezone.now()
    _row("+441134960001")
    waiting = _row("+441134960002")
    Message.objects.filter(pk=waiting.pk).update(
        next_attempt_at=now + timezone.timedelta(minutes=5)
    )
    _row("+441134960003", Status.SENDING, lease_expires_at=now - timezone.timedelta(1))
    _row(
        "+441134960004",
        Status.SENDING,
        lease_expires_at=now + timezone.timedelta(minutes=5),
    )

    def listed(value):
        response = admin_client.get(CHANGELIST, {"queue": value})
        return [row.recipient for row in response.context["cl"].result_list]

    assert listed("due") == ["+441134960001"]
    assert listed("waiting") == ["+441134960002"]
    assert listed("lease_expired") == ["+441134960003"]


def test_finished_filter_last_hour_and_day(admin_client):
    now = timezone.now()
    _row("+441134960001", Status.SENT, finished_at=now - timezone.timedelta(minutes=5))
    _row("+441134960002", Status.FAILED, finished_at=now - timezone.timedelta(hours=2))
    _row("+441134960003", Status.SENT, finished_at=now - timezone.timedelta(days=2))
    _row("+441134960004")

    def listed(**params):
        response = admin_client.get(CHANGELIST, params)
        return sorted(row.recipient for row in response.context["cl"].result_list)

    assert listed(finished="1h") == ["+441134960001"]
    assert listed(finished="24h") == ["+441134960001", "+441134960002"]
    assert listed(finished="24h", status__exact="failed") == ["+441134960002"]


def test_error_code_filter_lists_rows_that_logged_it_lately(admin_client):
    now = timezone.now()
    recent = _row("+441134960001", Status.FAILED)
    twice = _row("+441134960002")
    old = _row("+441134960003", Status.FAILED)
    other = _row("+441134960004", Status.FAILED)
    for row, code, at in (
        (recent, "30003", now),
        (twice, "30003", now),
        (twice, "30003", now - timezone.timedelta(minutes=1)),
        (old, "30003", now - timezone.timedelta(days=2)),
        (other, "21211", now),
    ):
        Attempt.objects.create(
            message=row, outcome=Attempt.Outcome.RETRY, error_code=code, created_at=at
        )
    response = admin_client.get(CHANGELIST, {"error_code": "30003"})
    assert sorted(r.recipient for r in response.context["cl"].result_list) == [
        "+441134960001",
        "+441134960002",
    ]
    # The active code shows in the sidebar, so it can be cleared.
    assert "error code (24 h)" in response.content.decode()
    assert "error code (24 h)" not in admin_client.get(CHANGELIST).content.decode()


HEALTH = reverse("admin:sms_outbox_message_health")


def test_health_page_shows_the_figures_with_links(admin_client):
    now = timezone.now()
    _row(status=Status.QUEUED)
    _row("+12065550100", Status.SENT, finished_at=now)
    failed = _row("+31612345678", Status.FAILED, finished_at=now)
    Attempt.objects.create(message=failed, outcome="failed", error_code="21211")
    response = admin_client.get(HEALTH)
    assert response.status_code == 200
    content = response.content.decode()
    health = response.context["health"]
    assert (health.due, health.sent_last_hour, health.failed_last_day) == (1, 1, 1)
    assert f'href="{CHANGELIST}?queue=due">1</a>' in content
    assert f'href="{CHANGELIST}?status__exact=sent&amp;finished=1h">1</a>' in content
    assert f'href="{CHANGELIST}?error_code=21211">21211</a>' in content
    assert content.count('<g class="sms-strip"') == 3
    assert '<pattern id="sms-hatch"' in content


def test_health_chart_numbers_are_not_localised(admin_client, settings):
    settings.USE_THOUSAND_SEPARATOR = True
    settings.LANGUAGE_CODE = "de"
    now = timezone.now()
    for _ in range(3):
        _row(status=Status.SENT, finished_at=now)
    _row(status=Status.SENT, finished_at=now - timezone.timedelta(minutes=15))
    content = admin_client.get(HEALTH).content.decode()
    # A German decimal comma in an SVG attribute would break the drawing.
    assert re.search(r'<rect x="\d+" y="\d+(\.\d+)?" width="4"', content)
    assert not re.search(r'(y|height)="\d+,\d', content)
    assert 'viewBox="0 0 720 ' in content
    # Each bar says its time and count; the table repeats the figures.
    assert re.search(r"<title>\d\d:\d\d–\d\d:\d\d: 3 sent</title>", content)
    assert re.search(r"<title>\d\d:\d\d–\d\d:\d\d: 1 sent</title>", content)
    assert "<td>3</td><td>0</td><td>0</td>" in content


def test_health_page_needs_the_view_permission(client, staff_viewer):
    assert client.get(HEALTH).status_code == 200
    User.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(User.objects.get(username="nobody"))
    assert client.get(HEALTH).status_code == 403
    client.logout()
    assert client.get(HEALTH).status_code == 302
