"""The reproduce report in a real headless browser (issue 13, point 5): Chromium from the
distribution's packages driven by Playwright. It loads, every figure renders (decoded, with a
size), the tables and the synthetic banner are there, and the console stays free of errors.

Skipped, with the reason, where Playwright or a Chromium binary is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser import launch, sync_api
from sitsfusion.reproduce.registry import experiment
from sitsfusion.reproduce.report import PANOPTIC, write_report
from sitsfusion.reproduce.runner import grid

pytestmark = pytest.mark.slow  # starts a browser


def _results(name: str, out: Path) -> pd.DataFrame:
    """Made-up scores for the quick grid of ``name``: two runs per config (not a result); a
    panoptic experiment's runs get made-up class-wise scores files in ``out``."""
    exp = experiment(name)
    rng = np.random.default_rng(0)
    rows = []
    for spec in grid(exp, "quick"):
        row = {"experiment": name, "config": spec.label, "fold": spec.fold.name}
        row |= {"seed": spec.seed, **{m: float(rng.uniform(0.3, 0.9)) for m in exp.metrics}}
        row["run"] = spec.folder.as_posix()
        if "PQ" in exp.metrics:
            test = out / spec.folder / "test"
            test.mkdir(parents=True)
            scores = {f"{k}_per_class": rng.uniform(0.1, 0.9, 4).tolist() for k in PANOPTIC}
            (test / "test_panoptic.json").write_text(
                json.dumps({"class_names": ["a", "b", "c", "d"], **scores})
            )
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", ["garnot2021-table1", "ofori2021-table3", "garnot2021-table3"])
def test_report_renders_in_chromium(name: str, tmp_path: Path) -> None:
    api = sync_api()
    exp = experiment(name)
    _, page_path, _ = write_report(exp, _results(name, tmp_path), tmp_path, "sim", True, "quick")
    errors: list[str] = []
    with api.sync_playwright() as pw:
        browser = launch(pw)
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
    expected = [len(exp.labels("quick")) + 1, len(exp.claims) + 1]  # header + rows
    if "PQ" in exp.metrics:  # and the class-wise table, its figure
        expected.append(4 + 1)
        assert len(images) == 2
    assert tables == expected
    assert len(statuses) == len(exp.claims)  # every claim judged (both sides were run)
    assert errors == []
