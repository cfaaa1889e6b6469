"""The reproduce report in a real headless browser (issue 13, point 5): Chromium from the
distribution's packages driven by Playwright. It loads, every figure renders (decoded, with a
size), the tables and the synthetic banner are there, and the console stays free of errors.

Skipped, with the reason, where Playwright or a Chromium binary is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sitsfusion.reproduce.registry import experiment
from sitsfusion.reproduce.report import write_report
from sitsfusion.reproduce.runner import grid

pytestmark = pytest.mark.slow  # starts a browser

# The flags this machine's Chromium needs headless as root on a closed network (no sandbox,
# no GPU, no background connections).
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


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium binary on PATH (Debian: apt-get install chromium)")


def _results(name: str) -> pd.DataFrame:
    """Made-up scores for the quick grid of ``name``: two runs per config (not a result)."""
    exp = experiment(name)
    rng = np.random.default_rng(0)
    rows = []
    for spec in grid(exp, "quick"):
        row = {"experiment": name, "config": spec.label, "fold": spec.fold.name}
        row |= {"seed": spec.seed, **{m: float(rng.uniform(0.3, 0.9)) for m in exp.metrics}}
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", ["garnot2021-table1", "ofori2021-table3"])
def test_report_renders_in_chromium(name: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    binary = _chromium()
    exp = experiment(name)
    _, page_path, _ = write_report(exp, _results(name), tmp_path, "sim", True, "quick")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
            )
            banner = page.inner_text(".banner")
            tables = page.eval_on_selector_all("table", "els => els.map(e => e.rows.length)")
            statuses = page.eval_on_selector_all(
                "td.holds, td.does-not-hold", "els => els.map(e => e.textContent)"
            )
        finally:
            browser.close()
    assert images and all(done and w > 100 and h > 100 for done, w, h in images), images
    assert "SYNTHETIC" in banner
    assert tables == [len(exp.labels("quick")) + 1, len(exp.claims) + 1]  # header + rows
    assert len(statuses) == len(exp.claims)  # every claim judged (both sides were run)
    assert errors == []
