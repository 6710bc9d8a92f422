"""The demo page, through the Django test client: who may see it, queue, list."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client, override_settings
from django.urls import reverse

import sms
from example_project.demo.forms import SendForm
from sms.phone import mask_phone_number
from sms.segments import count_segments
from sms_outbox.models import InboundMessage
from sms_outbox.models import Message as OutboxMessage
from tests.example.conftest import grant

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("delivery_backend"),
]

NUMBER = "+447911123456"
CODE_BODY = "Your login code is 424242"


@pytest.fixture
def client(staff_client):
    """Make the tests' default client the page's audience: a staff user."""
    return staff_client


@pytest.fixture
def queued_code():
    """Queue an SMS holding a one-time code, as an application would."""
    connection = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    sms.send_sms(CODE_BODY, None, [NUMBER], connection=connection)


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


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_go_to_the_admin_login_and_queue_nothing(
    method, queued_code
):
    data = {"recipients": "+12065550100", "body": "Pump"} if method == "post" else {}
    response = getattr(Client(), method)("/", data)
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/"
    content = response.content.decode()
    assert NUMBER not in content and "424242" not in content
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == [NUMBER]


def test_a_logged_in_user_who_is_not_staff_queues_nothing(queued_code):
    member = Client()
    member.force_login(User.objects.create_user("member", password="pw"))
    response = member.post("/", {"recipients": "+12065550100", "body": "Pump"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert OutboxMessage.objects.count() == 1


def _staff_with(*codenames):
    user = User.objects.create_user("limited", password="pw", is_staff=True)
    client = Client()
    client.force_login(grant(user, *codenames))
    return client


@pytest.mark.parametrize(
    ("codenames", "can_view", "can_queue"),
    [
        ((), False, False),
        (("add_message",), False, False),
        (("view_message",), True, False),
        (("view_message", "add_message"), True, True),
    ],
)
def test_staff_need_the_outbox_permissions(codenames, can_view, can_queue, queued_code):
    client = _staff_with(*codenames)
    page = client.get("/")
    assert page.status_code == (200 if can_view else 403)
    assert (CODE_BODY in page.content.decode()) is can_view
    posted = client.post("/", {"recipients": "+12065550100", "body": "Pump"})
    assert posted.status_code == (302 if can_queue else 403)
    assert CODE_BODY not in posted.content.decode()
    queued = set(OutboxMessage.objects.values_list("recipient", flat=True))
    assert queued == ({NUMBER, "+12065550100"} if can_queue else {NUMBER})


def test_a_superuser_needs_no_explicit_permission(queued_code):
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))
    assert CODE_BODY in admin.get("/").content.decode()
    assert (
        admin.post("/", {"recipients": "+12065550100", "body": "x"}).status_code == 302
    )


def test_the_list_masks_numbers_as_the_logs_do(client, queued_code):
    content = client.get("/").content.decode()
    assert NUMBER not in content
    masked = mask_phone_number(NUMBER)
    assert f'data-recipient="{masked}" data-status="queued"' in content
    assert f"<td>{masked}</td>" in content
    # Staff read the bodies (the admin shows them too).
    assert CODE_BODY in content


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
    masked = mask_phone_number("+31612345678")
    assert f'data-recipient="{masked}" data-status="queued"' in content
    assert "+31612345678" not in content


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
    masked = mask_phone_number("+441134960000")
    assert content.count(f'data-recipient="{masked}"') == 20
    assert "message 24" in content
    assert "message 4<" not in content


def test_the_list_shows_bodies_only_when_told_to(rf, staff_user, queued_code):
    # The view tells the template whether the viewer is staff; should the page
    # ever open to others (say, on loopback), the bodies stay hidden from them.
    request = rf.get("/")
    request.user = staff_user
    reply = InboundMessage(sender=NUMBER, provider="vonage", body="My code 9999")
    context = {
        "form": SendForm(),
        "rows": OutboxMessage.objects.all(),
        "inbound": [reply],
        "segments": 1,
        "encoding": "GSM-7",
    }
    shown = render_to_string(
        "demo/index.html", {**context, "show_bodies": True}, request
    )
    hidden = render_to_string(
        "demo/index.html", {**context, "show_bodies": False}, request
    )
    assert CODE_BODY in shown and shown.count("<th>Body</th>") == 2
    assert CODE_BODY not in hidden and "<th>Body</th>" not in hidden
    assert "My code 9999" in shown and "My code 9999" not in hidden
    assert f"<td>{mask_phone_number(NUMBER)}</td>" in hidden
