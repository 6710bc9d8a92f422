"""Fixtures of the example-project tests: staff users, their client and browser."""

import pytest

#: What the demo page asks of its users: to see the outbox, and to queue SMS.
DEMO_PERMISSIONS = ("view_message", "add_message")


def grant(user, *codenames):
    """Give ``user`` the ``sms_outbox`` permissions ``codenames``; return it."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="sms_outbox", codename__in=codenames
        )
    )
    return user


@pytest.fixture
def staff_user(db):
    """Return a staff user (not a superuser) allowed to see and queue SMS."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("staff", password="staff-pw", is_staff=True)
    return grant(user, *DEMO_PERMISSIONS)


@pytest.fixture
def staff_client(staff_user):
    """Return a test client logged in as ``staff_user``."""
    from django.test import Client

    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def staff_logged_in(page, live_server):
    """Log ``page`` in as a staff user through the demo page's redirect."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("staff", password="browser-test-pw", is_staff=True)
    grant(user, *DEMO_PERMISSIONS)
    page.goto(live_server.url + "/")
    # Anonymous: the admin's login form, which comes back to the page.
    assert page.url == live_server.url + "/admin/login/?next=/"
    page.fill("#id_username", "staff")
    page.fill("#id_password", "browser-test-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#send-form")
    assert page.url == live_server.url + "/"
