"""Headless Chromium for the browser tests: where it is, how it starts, screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it in CI."""
    # In CI a missing browser is a broken set-up, not a reason to skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


def save_screenshot(page, nodeid: str, directory: Path = ARTIFACTS) -> Path:
    """Save a full-page screenshot named after the test; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^\w.-]+", "_", nodeid) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
