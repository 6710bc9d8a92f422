"""Fixtures of the example-project tests: staff users, their client and browser."""

import pytest


@pytest.fixture
def staff_user(db):
    """Return a staff user (not a superuser): the demo page's audience."""
    from django.contrib.auth.models import User

    return User.objects.create_user("staff", password="staff-pw", is_staff=True)


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

    User.objects.create_user("staff", password="browser-test-pw", is_staff=True)
    page.goto(live_server.url + "/")
    # Anonymous: the admin's login form, which comes back to the page.
    assert page.url == live_server.url + "/admin/login/?next=/"
    page.fill("#id_username", "staff")
    page.fill("#id_password", "browser-test-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#send-form")
    assert page.url == live_server.url + "/"
