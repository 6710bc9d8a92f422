"""Fixtures of the example-project tests: staff users, headless Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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


def _unavailable(reason: str) -> None:
    # In CI a missing browser is a broken set-up, not a reason to skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    """Start Debian's Chromium once per module, through Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    # Playwright's sync API runs an asyncio loop in this thread, which Django's
    # ORM would take for async code; the tests' ORM calls are synchronous.
    saved = {
        name: os.environ.get(name) for name in ("DJANGO_ALLOW_ASYNC_UNSAFE", "NO_PROXY")
    }
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def page(browser, request):
    """Give a fresh page; save a screenshot in test-artifacts/ if the test fails."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        save_screenshot(page, request.node.nodeid)
    context.close()


def save_screenshot(page, nodeid: str, directory: Path = ARTIFACTS) -> Path:
    """Save a full-page screenshot named after the test; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^\w.-]+", "_", nodeid) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
