"""A headless Chromium for the tests that check pages in a real browser: the distribution's
package (Debian: ``apt-get install chromium``), driven by Playwright; nothing is downloaded.
A test without Playwright or without a Chromium binary is skipped, saying which is missing."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

# What Chromium needs headless as root on a closed network: no sandbox, no GPU, no
# background connections (refused here, many at a time).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def sync_api() -> Any:
    """``playwright.sync_api``, or the test is skipped."""
    return pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


def launch(playwright: Any) -> Any:
    """The system's Chromium, headless, through ``playwright`` (a ``sync_playwright()``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
    pytest.skip("no Chromium binary on PATH (Debian: apt-get install chromium)")
