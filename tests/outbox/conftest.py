"""Fixtures of the outbox tests: the example tests' headless Chromium page."""

from tests.example.conftest import (  # noqa: F401
    browser,
    page,
    pytest_runtest_makereport,
)
