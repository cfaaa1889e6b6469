"""Varying cloud cover (seed 001 Sec. 4.4, Fig. 8; Sec. 4.5 for panoptic segmentation).

Trained models are evaluated on the test set while random optical acquisitions are removed
(radar unchanged), for several ratios of remaining optical observations. Each model keeps its
own config (fusion level, modalities); the removal is ``data.eval_drop`` (seeded, so every
model sees the same remaining dates for a given ratio and seed), applied before early fusion's
resampling, as a cloud would remove the image before any processing.

``sitsfusion robustness`` (or ``sitsfusion experiment robustness``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.io import write_text_atomic
from sitsfusion.outputs import holds_any, mark_complete, output_folder
from sitsfusion.runs import ReportStamp, file_sha256, finished_report

__all__ = ["DEFAULT_KEPT", "SCORES", "plot_robustness", "run_cloud_robustness"]

#: Ratios of remaining optical observations (seed 001 Fig. 8 spans 100 % down to 10 %).
DEFAULT_KEPT: tuple[float, ...] = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1)
SCORES = {"OA": "overall_accuracy", "mIoU": "miou", "macro_F1": "macro_f1", "PQ": "PQ"}
"""The columns of ``robustness.csv`` and the test scores (``test_metrics.json`` keys) they hold."""


def run_cloud_robustness(
    runs: Sequence[tuple[ExperimentConfig, str | Path]],
    out_dir: str | Path,
    modality: str = "S2",
    kept: Sequence[float] = DEFAULT_KEPT,
    seeds: Sequence[int] = (0,),
    overwrite: bool = False,
) -> pd.DataFrame:
    """Score every ``(config, checkpoint)`` with ``1 - kept`` of ``modality`` removed.

    Returns one row per model, ratio and seed: ``model, kept, seed`` and the scores (OA, mIoU,
    macro F1, and PQ for panoptic models); also written to ``<out_dir>/robustness.csv`` with a
    figure ``robustness.png`` (the monitored score vs the ratio kept, one curve per model).
    Each evaluation's report goes to ``<out_dir>/<model>/kept_<ratio>_seed_<seed>/``; one
    already there, complete and of the same checkpoint and config, is read instead of scored
    again (an interrupted call, run again, scores only what is missing; ``overwrite`` clears
    ``out_dir`` first, if this command made it).

    Raises:
        ConfigError: a ratio outside (0, 1], a model that does not read ``modality``.
    """
    from sitsfusion.training import evaluate, is_synthetic

    out = Path(out_dir)
    bad = [k for k in kept if not 0.0 < k <= 1.0]
    if bad:
        raise ConfigError(f"kept: ratios of remaining observations must be in (0, 1], got {bad}")
    for cfg, _ in runs:  # refusals before any folder is made
        if modality not in cfg.data.modalities:
            raise ConfigError(
                f"{cfg.name}: reads {cfg.data.modalities}, not {modality!r}; nothing to remove"
            )
    inputs = [p for cfg, checkpoint in runs for p in (*cfg.data.inputs(), checkpoint)]
    with output_folder(
        out,
        kind="experiment",
        overwrite=overwrite,
        inputs=inputs,
        owned=holds_any("robustness.csv"),
        reuse=not overwrite,  # what is scored is read again
        command="robustness",
    ):
        rows: list[dict[str, Any]] = []
        synthetic = False
        for cfg, checkpoint in runs:
            synthetic = synthetic or is_synthetic(cfg.data.root)
            sha256 = file_sha256(checkpoint)  # once per checkpoint, not per evaluation
            for seed in seeds:
                for ratio in kept:
                    run = copy.deepcopy(cfg)
                    run.train.seed = int(seed)
                    run.data.eval_drop = {} if ratio >= 1.0 else {modality: 1.0 - float(ratio)}
                    where = out / cfg.name / f"kept_{ratio:.2f}_seed_{seed}"
                    source = str(Path(checkpoint).resolve())
                    stamp = ReportStamp("test", source, sha256, run.to_dict())
                    scores = finished_report(where, stamp) or evaluate(run, checkpoint, where)
                    row: dict[str, Any] = {
                        "model": cfg.name,
                        "kept": float(ratio),
                        "seed": int(seed),
                    }
                    for name, key in SCORES.items():
                        if key in scores:
                            row[name] = float(scores[key])
                    rows.append(row)
        table = pd.DataFrame(rows)
        write_text_atomic(out / "robustness.csv", table.to_csv(index=False))
        plot_robustness(table, out / "robustness.png", modality, synthetic)
        mark_complete(out)
    return table


def plot_robustness(
    table: pd.DataFrame, path: str | Path, modality: str = "S2", synthetic: bool = False
) -> Path:
    """Score vs ratio of remaining ``modality`` observations, one curve per model (mean over
    seeds); PQ for panoptic models, mIoU otherwise."""
    import matplotlib.pyplot as plt

    from sitsfusion.plots import save_figure

    metric = "PQ" if "PQ" in table and table["PQ"].notna().any() else "mIoU"
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for model, rows in table.groupby("model", sort=False):
        curve = rows.groupby("kept")[metric].mean().sort_index()
        ax.plot(100 * curve.index, 100 * curve.to_numpy(), marker="o", label=str(model))
    ax.set_xlabel(f"{modality} observations kept (%)")
    ax.set_ylabel(f"test {metric} (%)")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    title = "Varying cloud cover (seed 001, Fig. 8)"
    ax.set_title(title + (" — synthetic data" if synthetic else ""), fontsize=9)
    return save_figure(fig, Path(path))
