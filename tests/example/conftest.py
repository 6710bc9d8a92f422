"""Fixtures of the example-project tests: staff users and their client."""

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
