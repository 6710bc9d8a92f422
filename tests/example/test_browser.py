"""The demo page and the outbox admin, driven in headless Chromium.

The demo page is for staff only: each test logs in through the admin's login
form, the way the page's redirect sends a visitor there.

Playwright's sync API against pytest-django's ``live_server``; the browser is
Debian's ``/usr/bin/chromium`` (see ``tests/conftest.py``), never a downloaded one.
"""

from __future__ import annotations

import random
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # conftest's browser fixture skips (or fails in CI)
    expect = None

from sms.phone import mask_phone_number
from sms.segments import count_segments, get_encoding
from sms_outbox.models import Message
from tests.support.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Status = Message.Status


@pytest.fixture(autouse=True)
def _originator(settings):
    settings.DEFAULT_FROM_SMS = "DjangoSMS"


def _rows(page):
    """Return (recipient, status) of each row the demo page lists."""
    return [
        (row.get_attribute("data-recipient"), row.get_attribute("data-status"))
        for row in page.locator("#outbox tbody tr[data-recipient]").all()
    ]


def _queue(page, live_server, recipients, body):
    page.goto(live_server.url + "/")
    page.fill("#id_recipients", recipients)
    page.fill("#id_body", body)
    page.click("#send-form button[type=submit]")


def test_anonymous_visitors_get_the_login_form_and_queue_nothing(page, live_server):
    Message.objects.create(
        batch_id=uuid.uuid4(),
        body="Your login code is 424242",
        recipient="+441134960000",
        reference=uuid.uuid4().hex,
    )
    page.goto(live_server.url + "/")
    assert page.url == live_server.url + "/admin/login/?next=/"
    content = page.content()
    assert "+441134960000" not in content and "424242" not in content
    assert page.locator("#send-form").count() == 0


@pytest.mark.usefixtures("staff_logged_in")
def test_staff_log_in_and_queue_rows_listed_masked(page, live_server):
    _queue(page, live_server, "+441134960000\n+12065550100", "Hello from the browser")
    assert page.locator("#messages").inner_text() == "Queued 2 messages."
    assert sorted(_rows(page)) == sorted(
        [
            (mask_phone_number("+12065550100"), "queued"),
            (mask_phone_number("+441134960000"), "queued"),
        ]
    )
    assert "+441134960000" not in page.locator("#outbox").inner_text()
    assert "Hello from the browser" in page.locator("#outbox").inner_text()
    assert Message.objects.filter(status=Status.QUEUED).count() == 2
    # The person who queued is the one logged in.
    assert page.locator("#logout").inner_text().startswith("Logged in as staff")


@pytest.mark.usefixtures("staff_logged_in")
def test_the_rate_limit_is_a_form_error(page, live_server, settings):
    settings.DEMO_SMS_PER_MINUTE = 2
    _queue(page, live_server, "+441134960000\n+12065550100", "One")
    _queue(page, live_server, "+31612345678", "Two")
    error = page.locator("#send-form .errorlist").first.inner_text()
    assert "You can queue at most 2 SMS parts a minute" in error
    # The form keeps what was typed.
    assert page.input_value("#id_recipients") == "+31612345678"
    assert Message.objects.count() == 2


@pytest.mark.usefixtures("staff_logged_in")
def test_an_invalid_number_is_an_error_and_nothing_is_queued(page, live_server):
    _queue(page, live_server, "+441134960000, +4411", "Hello")
    error = page.locator(".errorlist").first.inner_text()
    assert "'+4411' is not a valid phone number" in error
    assert page.locator("#messages").count() == 0
    assert "The outbox is empty." in page.locator("#outbox").inner_text()
    assert Message.objects.count() == 0


@pytest.mark.usefixtures("staff_logged_in")
def test_the_drain_sends_the_row_and_a_reload_shows_it(page, live_server):
    _queue(page, live_server, "+31612345678", "Drain me")
    masked = mask_phone_number("+31612345678")
    assert _rows(page) == [(masked, "queued")]
    call_command("send_queued_sms", verbosity=0)
    page.reload()
    assert _rows(page) == [(masked, "sent")]


@pytest.mark.usefixtures("staff_logged_in")
def test_the_live_count_follows_typing(page, live_server):
    page.goto(live_server.url + "/")
    assert page.inner_text("#segments") == "1"
    page.fill("#id_body", "x" * 161)
    assert page.inner_text("#segments") == "2"
    assert page.inner_text("#encoding") == "GSM-7"
    page.fill("#id_body", "x" * 60 + "👋")
    assert page.inner_text("#encoding") == "UCS-2"
    assert page.inner_text("#segments") == "1"


@pytest.mark.usefixtures("staff_logged_in")
def test_the_live_count_agrees_with_sms_segments(page, live_server):
    bodies = [
        "",
        "a" * 160,
        "a" * 161,
        "a" * 306,
        "a" * 307,
        "€" * 80,
        "€" * 81,
        "a" * 152 + "€",  # the escape pair would straddle the part boundary
        "a" * 159 + "{",
        "line\nbreaks\rand ΔΦΓ",
        "é" * 160 + "ç",  # ç is not GSM-7 (only Ç is)
        "ü" * 70,
        "ü" * 70 + "ґ",
        "😀" * 35,
        "😀" * 36,
        "a" * 66 + "😀",  # a surrogate pair is never split across parts
        "a" * 133 + "😀",
        "`backtick` is UCS-2",
    ]
    page.goto(live_server.url + "/")
    got = page.evaluate(
        "(bodies) => bodies.map((b) => "
        "[smsSegments.count(b).segments, smsSegments.count(b).encoding])",
        bodies,
    )
    expected = [[count_segments(body), get_encoding(body)] for body in bodies]
    assert got == expected


@pytest.mark.usefixtures("staff_logged_in")
def test_the_live_count_agrees_on_random_bodies(page, live_server):
    # Mixed alphabets around the part boundaries: basic and extension GSM-7,
    # characters outside it, and astral ones (surrogate pairs in JavaScript).
    basic = "aZ0 @£\n\rΔé"
    extension = "€{}[]~^|\\\f"
    pools = [basic, basic + extension, basic + extension + "çґ`" + "😀𝄞"]
    rng = random.Random(5)
    bodies = []
    for _ in range(400):
        pool = rng.choice(pools)
        bodies.append("".join(rng.choices(pool, k=rng.randint(0, 480))))
    page.goto(live_server.url + "/")
    got = page.evaluate(
        "(bodies) => bodies.map((b) => "
        "[smsSegments.count(b).segments, smsSegments.count(b).encoding])",
        bodies,
    )
    expected = [[count_segments(body), get_encoding(body)] for body in bodies]
    mismatches = [b for b, g, e in zip(bodies, got, expected, strict=True) if g != e]
    assert not mismatches
    assert {encoding for _, encoding in expected} == {"GSM-7", "UCS-2"}


@pytest.mark.usefixtures("staff_logged_in")
def test_a_screenshot_is_saved_for_a_failing_test(page, live_server, tmp_path):
    page.goto(live_server.url + "/")
    path = save_screenshot(page, "tests/example/test_x.py::test_y[a b]", tmp_path)
    assert path == tmp_path / "tests_example_test_x.py_test_y_a_b_.png"
    assert path.read_bytes().startswith(b"\x89PNG")


def _make_row(recipient, status, **fields):
    now = timezone.now()
    if status == Status.SENT:
        fields.update(sent_at=now, finished_at=now, attempts=1)
    return Message.objects.create(
        batch_id=uuid.uuid4(),
        body=f"Hello {recipient}",
        recipient=recipient,
        status=status,
        next_attempt_at=now,
        reference=uuid.uuid4().hex,
        **fields,
    )


def _admin_login(page, live_server):
    User.objects.create_superuser("admin", "", "browser-test-pw")
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "browser-test-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def _run_action(page, action):
    """Tick every listed row and run ``action`` on them."""
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def _expect_recipients(page, recipients):
    """Wait until the change list shows exactly ``recipients``, newest first."""
    expect(page.locator("#result_list tbody th.field-recipient")).to_have_text(
        recipients
    )


def test_admin_filter_search_resend_and_cancel(page, live_server):
    _make_row("+441134960000", Status.SENT, provider_message_id="SM1")
    _make_row("+12065550100", Status.QUEUED)
    _make_row("+14155552671", Status.SENT, provider_message_id="SM2")
    _admin_login(page, live_server)
    page.goto(live_server.url + "/admin/sms_outbox/message/")
    _expect_recipients(page, ["+14155552671", "+12065550100", "+441134960000"])

    # Filter by status with the sidebar link.
    page.locator('details[data-filter-title="status"]').get_by_role(
        "link", name="sent", exact=True
    ).click()
    _expect_recipients(page, ["+14155552671", "+441134960000"])

    # Search by number within the filter.
    page.fill("#searchbar", "+441134960000")
    page.press("#searchbar", "Enter")
    _expect_recipients(page, ["+441134960000"])

    # Resend it: a new queued copy appears, the original stays sent.
    _run_action(page, "resend")
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Queued 1 new copy for sending."
    )
    page.goto(live_server.url + "/admin/sms_outbox/message/?q=%2B441134960000")
    expect(page.locator("#result_list tbody td.field-status_badge")).to_have_text(
        ["queued", "sent"]
    )
    assert Message.objects.filter(recipient="+441134960000").count() == 2

    # Cancel the queued row of the other number.
    page.goto(live_server.url + "/admin/sms_outbox/message/?status__exact=queued")
    page.fill("#searchbar", "+12065550100")
    page.press("#searchbar", "Enter")
    _expect_recipients(page, ["+12065550100"])
    _run_action(page, "cancel")
    expect(page.locator("ul.messagelist")).to_contain_text("Cancelled 1 message.")
    assert Message.objects.get(recipient="+12065550100").status == Status.CANCELLED
