"""The report of an experiment's runs: ``report.md``, a self-contained ``report.html`` and the
figure (``figure.png``), as the paper shows its results.

At the top: the dataset and whether it is **synthetic** (simulated) or real. Then a table
per experiment: mean ± std over the runs of each config (:func:`mean_std`, sample std) with
the paper's published number beside; each of the paper's claims marked *holds* or *does not
hold* on these runs (*not run* when the preset left out one side); the figure redrawn from
the runs (our mean ± std as bars, the paper's numbers as markers), saved as PNG and embedded
in the HTML as base64. Panoptic runs add their class-wise SQ / RQ / PQ (:func:`panoptic_per_class`,
``per_class.csv``): a table, and the class-wise PQ bars of each config as seed 001 Fig. 10
(``per_class.png``); an experiment with ``robustness`` adds seed 001 Fig. 8 redrawn from its
runs (``robustness.png``: the score against the share of S2 observations kept).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sitsfusion.experiments.reporting import markdown_table, mean_std, plus_minus
from sitsfusion.io import write_text_atomic
from sitsfusion.reproduce.registry import METRIC_NAMES, OPERATORS, Experiment

__all__ = [
    "CLASS_FIGURE",
    "FIGURE",
    "PANOPTIC",
    "PER_CLASS",
    "ROBUSTNESS_FIGURE",
    "claim_status",
    "panoptic_per_class",
    "plot_experiment",
    "plot_per_class",
    "robustness_table",
    "summary_rows",
    "write_report",
]

FIGURE = "figure.png"
ROBUSTNESS_FIGURE = "robustness.png"
PER_CLASS = "per_class.csv"
CLASS_FIGURE = "per_class.png"
PANOPTIC = ("PQ", "SQ", "RQ")
"""The panoptic scores of seed 001 Table 3 (keys of ``test_metrics.json``)."""
HOLDS, FAILS, NOT_RUN = "holds", "does not hold", "not run"


def _metrics(exp: Experiment, results: pd.DataFrame) -> list[str]:
    return [m for m in exp.metrics if m in results and results[m].notna().any()]


def summary_rows(exp: Experiment, results: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per config run (in the table's order): runs, ``<metric>`` as "mean ± std" and
    ``<metric> (paper)`` beside (empty where the paper prints none)."""
    metrics = _metrics(exp, results)
    stats = mean_std(results, ["config"], metrics)
    rows = []
    for label in exp.configs:
        if label not in stats.index:
            continue
        row: dict[str, Any] = {
            "config": label,
            "runs": int((results["config"] == label).sum()),
        }
        published = exp.published.get(label, {})
        for m in metrics:
            name = METRIC_NAMES[m]
            row[name] = plus_minus(stats.loc[label, f"{m}_mean"], stats.loc[label, f"{m}_std"])
            paper = published.get(m)
            row[f"{name} (paper)"] = (
                "" if paper is None else plus_minus(paper[0], paper[1] or math.nan)
            )
        rows.append(row)
    return rows


def claim_status(exp: Experiment, results: pd.DataFrame) -> list[dict[str, Any]]:
    """Each claim of ``exp`` on the mean scores of ``results``: the claim, both means and its
    status (holds / does not hold / not run)."""
    grouped = results.groupby("config")[_metrics(exp, results)]
    means, stds = grouped.mean(), grouped.std()
    rows = []
    for claim in exp.claims:
        sides = [claim.left, claim.right]
        have = all(s in means.index for s in sides) and claim.metric in means
        left = float(means.loc[claim.left, claim.metric]) if have else math.nan
        right = float(means.loc[claim.right, claim.metric]) if have else math.nan
        if not have or math.isnan(left) or math.isnan(right):
            status = NOT_RUN
        else:
            status = HOLDS if OPERATORS[claim.op](left, right) else FAILS
        note = ""
        if status != NOT_RUN:
            spread = stds.loc[[claim.left, claim.right], claim.metric].max()
            if not math.isnan(spread) and abs(left - right) <= spread:
                note = "difference within the runs' std"
        rows.append(
            {
                "claim": f"{claim.left} {claim.op} {claim.right} ({METRIC_NAMES[claim.metric]})",
                "paper": claim.text,
                "ours": "" if status == NOT_RUN else f"{left:.3f} vs {right:.3f}",
                "status": status,
                "note": note,
            }
        )
    return rows


def plot_experiment(
    exp: Experiment, results: pd.DataFrame, path: str | Path, synthetic: bool
) -> Path:
    """Bars of the mean score of each config (error bars: std over runs), the paper's numbers
    as black diamonds; one panel per monitored metric (at most three)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sitsfusion.plots import save_figure

    metrics = _metrics(exp, results)[:3]
    labels = [label for label in exp.configs if label in set(results["config"])]
    stats = mean_std(results, ["config"], metrics).reindex(labels)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(5.0, 0.45 * len(labels) + 1.5) * len(metrics), 4.0)
    )
    axes = [axes] if len(metrics) == 1 else list(axes)
    x = range(len(labels))
    for ax, m in zip(axes, metrics, strict=True):
        mean = 100 * stats[f"{m}_mean"].to_numpy()
        std = 100 * stats[f"{m}_std"].fillna(0).to_numpy()
        ax.bar(x, mean, yerr=std, capsize=3, color="#4c72b0", label="ours (mean ± std)")
        paper = [exp.published.get(label, {}).get(m) for label in labels]
        px = [i for i, p in enumerate(paper) if p is not None]
        if px:
            py = [100 * paper[i][0] for i in px]  # type: ignore[index]
            ax.scatter(px, py, marker="D", color="black", zorder=3, label="paper")
        ax.set_xticks(list(x), labels, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel(f"test {METRIC_NAMES[m]} (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    title = f"{exp.paper}, {exp.source}"
    fig.suptitle(title + (" — synthetic data" if synthetic else ""), fontsize=9)
    return save_figure(fig, Path(path))


def panoptic_per_class(results: pd.DataFrame, out: str | Path) -> pd.DataFrame | None:
    """The class-wise SQ / RQ / PQ of the panoptic runs in ``results`` (each run's
    ``<run>/test/test_panoptic.json`` under ``out``): columns config, class, runs and the mean
    over the runs of ``PQ``, ``SQ``, ``RQ`` (NaN where no run saw the class); None when no run
    has the file (not a panoptic experiment)."""
    from sitsfusion.io import read_json

    rows = []
    for run in results.itertuples() if "run" in results else ():
        path = Path(out) / str(run.run) / "test" / "test_panoptic.json"
        if not path.is_file():
            continue
        scores = read_json(path)
        for i, name in enumerate(scores["class_names"]):
            values = {k: scores[f"{k}_per_class"][i] for k in PANOPTIC}
            rows.append({"config": run.config, "class": name, **values})
    if not rows:
        return None
    table = pd.DataFrame(rows)
    table[list(PANOPTIC)] = table[list(PANOPTIC)].astype(float)
    grouped = table.groupby(["config", "class"], sort=False)
    summary = grouped[list(PANOPTIC)].mean()
    summary.insert(0, "runs", grouped.size())
    return summary.reset_index()


def _class_rows(per_class: pd.DataFrame, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One row per class, one column per config: "PQ (SQ / RQ)" in percent."""
    rows = []
    for name in dict.fromkeys(per_class["class"]):
        row: dict[str, Any] = {"class": name}
        for label in labels:
            hit = per_class[(per_class["config"] == label) & (per_class["class"] == name)]
            if hit.empty or math.isnan(hit["PQ"].iloc[0]):
                row[label] = "—"
                continue
            pq, sq, rq = (100 * float(hit[k].iloc[0]) for k in PANOPTIC)
            row[label] = f"{pq:.1f} ({sq:.1f} / {rq:.1f})"
        rows.append(row)
    return rows


def plot_per_class(
    per_class: pd.DataFrame, labels: Sequence[str], path: str | Path, title: str
) -> Path:
    """Class-wise PQ bars, one colour per config (seed 001 Fig. 10: S2 against late fusion);
    classes no run saw are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from sitsfusion.plots import save_figure

    table = per_class.pivot(index="class", columns="config", values="PQ")
    table = table.reindex(list(dict.fromkeys(per_class["class"])))
    table = table[[label for label in labels if label in table.columns]].dropna(how="all")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(table) + 2), 4.0))
    width = 0.8 / max(1, table.shape[1])
    x = np.arange(len(table))
    for j, label in enumerate(table.columns):
        ax.bar(x + j * width, 100 * table[label].to_numpy(), width, label=label)
    ax.set_xticks(x + 0.4 - width / 2, list(table.index), rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("test PQ (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, Path(path))


def _html_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{html.escape(str(r[c]).replace(" ", "-"))}">{html.escape(str(r[c]))}</td>'
            for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _banner(dataset: str, synthetic: bool, stand_in: str = "") -> str:
    if synthetic:
        return (
            f"Dataset: {dataset} — SYNTHETIC data from the sitsfusion simulator, not a real "
            "dataset: these numbers say whether the pipeline reproduces the papers' protocol, "
            "not whether their findings hold on real data."
            + (f" Here {stand_in}." if stand_in else "")
        )
    return f"Dataset: {dataset} — real data."


_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 1em auto; color: #222; }
.banner { padding: 0.6em 1em; border-radius: 4px; font-weight: bold; }
.synthetic { background: #fff3cd; border: 1px solid #e0b000; }
.real { background: #d4edda; border: 1px solid #3c8d50; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.holds { color: #1a7f37; font-weight: bold; }
td.does-not-hold { color: #b42318; font-weight: bold; }
img { max-width: 100%; }
"""


@dataclass(frozen=True)
class _Section:
    """A part of the report after the figure: a title, a sentence, a table, a figure."""

    title: str
    what: str
    figure: Path
    rows: Sequence[dict[str, Any]] = ()

    def markdown(self) -> list[str]:
        table = [markdown_table(self.rows)] if self.rows else []
        return [
            f"## {self.title}",
            "",
            self.what,
            "",
            *table,
            f"![{self.title}]({self.figure.name})",
            "",
        ]

    def html(self) -> str:
        encoded = base64.b64encode(self.figure.read_bytes()).decode("ascii")
        table = _html_table(self.rows) + "\n" if self.rows else ""
        return (
            f"<h2>{html.escape(self.title)}</h2>\n<p>{html.escape(self.what)}</p>\n{table}"
            f'<img alt="{html.escape(self.title)}" src="data:image/png;base64,{encoded}">\n'
        )


def _per_class_section(
    exp: Experiment, results: pd.DataFrame, out: Path, synthetic: bool
) -> list[_Section]:
    """Panoptic runs: the class-wise table and PQ bars (``per_class.csv`` / ``.png``)."""
    per_class = panoptic_per_class(results, out)
    if per_class is None:
        return []
    write_text_atomic(out / PER_CLASS, per_class.to_csv(index=False))
    labels = [label for label in exp.configs if label in set(results["config"])]
    title = f"{exp.paper}: class-wise PQ (as Fig. 10)" + (" — synthetic data" if synthetic else "")
    drawn = plot_per_class(per_class, labels, out / CLASS_FIGURE, title)
    what = "Per class: PQ (SQ / RQ) in percent, mean over the runs; — where no run saw it."
    return [_Section("Per class", what, drawn, _class_rows(per_class, labels))]


def robustness_table(exp: Experiment, results: pd.DataFrame) -> pd.DataFrame:
    """The runs' scores by share of S2 kept (:attr:`Experiment.robustness`): columns model
    (the config label), kept (1 = the plain test), seed and the score under its
    :data:`~sitsfusion.experiments.cloud_robustness.SCORES` name (e.g. ``mIoU``)."""
    from sitsfusion.experiments.cloud_robustness import SCORES

    metric = exp.metrics[0]
    name = next(n for n, key in SCORES.items() if key == metric)
    rows = []
    for run in results.to_dict("records"):
        for kept in (1.0, *exp.robustness):
            column = metric if kept >= 1.0 else f"{metric}_kept_{round(100 * kept)}"
            if column in run and not pd.isna(run[column]):
                rows.append({"model": run["config"], "kept": kept, "seed": run["seed"],
                             name: float(run[column])})  # fmt: skip
    return pd.DataFrame(rows)


def _robustness_section(
    exp: Experiment, results: pd.DataFrame, out: Path, synthetic: bool
) -> list[_Section]:
    """Seed 001 Fig. 8 redrawn: the score against the share of S2 kept, per config."""
    if not exp.robustness:
        return []
    from sitsfusion.experiments.cloud_robustness import plot_robustness

    table = robustness_table(exp, results)
    if table.empty:
        return []
    drawn = plot_robustness(table, out / ROBUSTNESS_FIGURE, "S2", synthetic)
    what = (
        f"{METRIC_NAMES[exp.metrics[0]]} of each config (mean over its runs) as random S2 "
        "observations are removed from the test set, radar unchanged; a model without S2 "
        "keeps its score."
    )
    return [_Section("Varying cloud cover", what, drawn)]


def write_report(
    exp: Experiment,
    results: pd.DataFrame,
    out: str | Path,
    root: str | Path,
    synthetic: bool,
    preset: str,
) -> tuple[Path, Path, Path]:
    """Write ``out/report.md``, ``out/report.html`` (self-contained: the figure embedded) and
    ``out/figure.png`` for the runs in ``results`` (rows of ``results.csv``) on the dataset
    at ``root``; returns their paths."""
    out = Path(out)
    dataset = f"{exp.dataset.name} ({'simulated' if synthetic else 'real'}, {root})"
    figure = plot_experiment(exp, results, out / FIGURE, synthetic)
    table, claims = summary_rows(exp, results), claim_status(exp, results)
    settings = exp.preset(preset)
    held = sum(c["status"] == HOLDS for c in claims)
    judged = sum(c["status"] != NOT_RUN for c in claims)
    intro = (
        f"{exp.title}. Preset **{preset}**: {settings.note}. Paper's protocol: {exp.protocol}. "
        f"{len(results)} runs; mean ± sample std over runs."
    )
    verdict = f"{held} of {judged} claims judged hold on these runs."
    md = [
        f"# {exp.name}: {exp.paper}, {exp.source}",
        "",
        f"> **{_banner(dataset, synthetic, exp.dataset.stand_in)}**",
        "",
        intro,
        "",
        markdown_table(table),
        "## The paper's claims",
        "",
        verdict,
        "",
        markdown_table(claims),
        f"![{exp.source} redrawn from our runs]({FIGURE})",
        "",
    ]
    sections = [
        *_robustness_section(exp, results, out, synthetic),
        *_per_class_section(exp, results, out, synthetic),
    ]
    for section in sections:
        md += section.markdown()
    md_path = write_text_atomic(out / "report.md", "\n".join(md))
    encoded = base64.b64encode(figure.read_bytes()).decode("ascii")
    kind = "synthetic" if synthetic else "real"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(exp.name)} — sitsfusion reproduce</title>
<style>{_STYLE}</style></head>
<body>
<p class="banner {kind}">{html.escape(_banner(dataset, synthetic, exp.dataset.stand_in))}</p>
<h1>{html.escape(exp.name)}: {html.escape(exp.paper)}, {html.escape(exp.source)}</h1>
<p>{html.escape(intro.replace("**", ""))}</p>
{_html_table(table)}
<h2>The paper's claims</h2>
<p>{html.escape(verdict)}</p>
{_html_table(claims)}
<h2>Figure</h2>
<img alt="{html.escape(exp.source)} redrawn from our runs"
 src="data:image/png;base64,{encoded}">
{"".join(section.html() for section in sections)}</body></html>
"""
    html_path = write_text_atomic(out / "report.html", page)
    return md_path, html_path, figure
