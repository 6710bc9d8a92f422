"""The outbox admin in headless Chromium: a list that fits, the health page.

The ``page`` fixture (``tests/conftest.py``) saves a screenshot in
``test-artifacts/`` when a test fails.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # conftest's browser fixture skips (or fails in CI)
    expect = None

from sms_outbox.models import Attempt, Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Status = Message.Status
LONG_BODY = (
    "Your appointment with Dr Example at the Leeds clinic is confirmed for "
    "Tuesday 3 December at 14:30. Reply STOP to opt out. €"
)


def _make_row(recipient, status, **fields):
    now = timezone.now()
    if status == Status.SENT:
        fields.setdefault("sent_at", now)
        fields.setdefault("attempts", 1)
    if status in Message.FINAL_STATUSES:
        fields.setdefault("finished_at", now)
    fields.setdefault("next_attempt_at", now)
    return Message.objects.create(
        batch_id=uuid.uuid4(),
        body=fields.pop("body", LONG_BODY),
        recipient=recipient,
        status=status,
        reference=uuid.uuid4().hex,
        **fields,
    )


def _login(page, live_server):
    User.objects.create_superuser("admin", "", "browser-test-pw")
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "browser-test-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def _varied_rows():
    _make_row(
        "+441134960000",
        Status.SENT,
        provider_message_id="SM" + "0" * 32,
        delivery_status=Message.DeliveryStatus.UNDELIVERED,
    )
    _make_row("+12065550100", Status.QUEUED)
    _make_row("+31612345678", Status.FAILED, attempts=5, last_error="unreachable")
    _make_row("+4915112345678", Status.SENDING, attempts=2)
    old = _make_row(
        "+14155552671",
        Status.SENT,
        delivery_status=Message.DeliveryStatus.DELIVERED,
        body="€" * 70,
    )
    # created_at is auto_now_add: backdate it afterwards.
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=400)
    )
    _make_row("+441134960999", Status.CANCELLED)


_MEASURE = """() => {
  const table = document.querySelector('#result_list');
  const box = table.parentElement;
  const rows = [...table.querySelectorAll('tbody tr')];
  return {
    table: table.getBoundingClientRect().width,
    box: box.clientWidth,
    boxScroll: box.scrollWidth,
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    rowHeights: rows.map((r) => r.getBoundingClientRect().height),
    body: document.querySelector('td.field-body_preview').getBoundingClientRect().width,
  };
}"""


@pytest.mark.parametrize("width", [1280, 1024])
def test_changelist_fits_without_scrolling(page, live_server, width):
    _varied_rows()
    page.set_viewport_size({"width": width, "height": 900})
    _login(page, live_server)
    page.goto(live_server.url + "/admin/sms_outbox/message/")
    # The navigation sidebar is open, as a first visit shows it.
    assert page.locator("#nav-sidebar").is_visible()
    sizes = page.evaluate(_MEASURE)
    assert sizes["table"] <= sizes["box"], sizes
    assert sizes["boxScroll"] <= sizes["box"], sizes
    assert sizes["page"] <= sizes["viewport"], sizes
    assert len(sizes["rowHeights"]) == 6
    assert max(sizes["rowHeights"]) < 40, sizes
    # The body keeps a readable share of the row.
    assert sizes["body"] >= 120, sizes
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[1:]] == [
        "recipient",
        "body",
        "status",
        "delivery",
        "tries",
        "when",
    ]
    row = page.locator("#result_list tbody tr", has_text="+441134960000")
    assert row.locator(".sms-badge").all_inner_texts() == ["sent", "undelivered"]
    old = page.locator("#result_list tbody tr", has_text="+14155552671")
    year_ago = (timezone.localdate() - datetime.timedelta(days=400)).isoformat()
    assert old.locator("td.field-when").inner_text() == year_ago
    assert old.locator("td.field-body_preview span").get_attribute("title") == (
        "€" * 70
    )


def _health_rows():
    """Build a day of traffic: sends, failures, retries, due and stuck rows."""
    now = timezone.now()
    ago = lambda **kw: now - datetime.timedelta(**kw)  # noqa: E731
    for minutes in (5, 7, 35, 125, 600, 1300):
        _make_row("+441134960000", Status.SENT, finished_at=ago(minutes=minutes))
    _make_row("+441134960000", Status.SENT, finished_at=ago(hours=30))
    failed = _make_row(
        "+31612345678", Status.FAILED, attempts=2, finished_at=ago(minutes=20)
    )
    _make_row("+31612345679", Status.FAILED, attempts=1, finished_at=ago(hours=5))
    for _ in range(3):
        _make_row("+12065550100", Status.QUEUED, next_attempt_at=ago(minutes=12))
    _make_row("+12065550101", Status.QUEUED, next_attempt_at=ago(minutes=-30))
    _make_row(
        "+4915112345678",
        Status.SENDING,
        claimed_by="dead-worker",
        lease_expires_at=ago(minutes=3),
    )
    _make_row(
        "+4915112345679",
        Status.SENDING,
        claimed_by="live-worker",
        lease_expires_at=ago(minutes=-3),
    )
    Attempt.objects.bulk_create(
        [
            Attempt(
                message=failed,
                outcome="retry",
                error_code="30003",
                created_at=ago(minutes=50),
            ),
            Attempt(
                message=failed,
                outcome="failed",
                error_code="30003",
                created_at=ago(minutes=20),
            ),
            Attempt(
                message=failed,
                outcome="retry",
                error_code="20429",
                created_at=ago(minutes=200),
            ),
        ]
    )


def test_health_page_shows_the_figures_and_links_to_the_rows(page, live_server):
    _health_rows()
    page.set_viewport_size({"width": 1280, "height": 900})
    _login(page, live_server)
    page.goto(live_server.url + "/admin/sms_outbox/message/")
    page.click("a.sms-health-link")
    page.wait_for_selector("#health-chart svg")

    # The counts are the database's.
    figures = {
        "#health-due": Message.objects.queued().due().count(),
        "#health-lease-expired": Message.objects.expired().count(),
        "#health-sent-1h": 3,
        "#health-sent-24h": 6,
        "#health-failed-1h": 1,
        "#health-failed-24h": 2,
    }
    for status in Status.values:
        figures[f"#health-status-{status}"] = Message.objects.filter(
            status=status
        ).count()
    shown = {selector: int(page.inner_text(selector)) for selector in figures}
    assert shown == figures
    assert (figures["#health-due"], figures["#health-lease-expired"]) == (3, 1)
    assert page.inner_text("#health-oldest-due").startswith("0:12:")
    codes = page.locator("#health-errors tbody tr").all_inner_texts()
    assert [c.split() for c in codes] == [["30003", "2"], ["20429", "1"]]

    # The chart: one strip per series, labelled, a bar per busy 10 minutes.
    strips = page.locator("#health-chart svg g.sms-strip")
    assert [s.get_attribute("data-series") for s in strips.all()] == [
        "sent",
        "failed",
        "retried",
    ]
    assert [s.get_attribute("data-total") for s in strips.all()] == ["6", "2", "2"]
    sent = page.locator('g[data-series="sent"]')
    assert sent.locator("rect").count() == 5
    assert sent.locator("text").text_content().startswith("sent: 6 in 24 h")
    box = page.locator("#health-chart svg").bounding_box()
    assert box["width"] > 500 and box["height"] > 150

    # A figure is a link to the rows it counts.
    recipients = page.locator("#result_list tbody th.field-recipient")
    page.click("#health-lease-expired")
    page.wait_for_url("**/sms_outbox/message/?queue=lease_expired")
    expect(recipients).to_have_text(["+4915112345678"])
    page.go_back()
    page.get_by_role("link", name="30003").click()
    page.wait_for_url("**/sms_outbox/message/?error_code=30003")
    expect(recipients).to_have_text(["+31612345678"])
    page.go_back()
    page.click("#health-sent-1h")
    page.wait_for_url("**/sms_outbox/message/?status__exact=sent&finished=1h")
    expect(recipients).to_have_count(3)
