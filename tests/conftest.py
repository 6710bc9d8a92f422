"""Fixtures more than one test package uses: a headless Chromium page."""

from __future__ import annotations

import os

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, save_screenshot, unavailable


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
        unavailable("the playwright package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
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
