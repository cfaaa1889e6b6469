"""PSE + L-TAE against a random forest on a small real dataset (369 parcels, Karnataka, HLS).

For each seed, the seed fixes the stratified 60/20/20 split (``data.split_seed``) and the
training (``train.seed``), and two models are scored on the same test parcels with the same
metrics code (:class:`~sitsfusion.metrics.ClassificationMetrics`):

* PSE + L-TAE trained through :func:`sitsfusion.training.fit` with
  ``configs/real/karnataka_s2.yaml`` (best checkpoint by validation mIoU);
* a random forest (scikit-learn, 500 trees) on parcel-mean time series: per parcel, the mean
  over its valid pixels of each band at each date, linearly interpolated onto a common grid
  of dates (every ``grid_step`` days over the dataset's date range, held constant outside a
  parcel's own dates) and flattened into one feature vector.

Run it with ``sitsfusion experiment real-pixelset --root PATH`` (output ``runs/real_pixelset``
unless ``--out DIR``). The data folder has no licence; it is never copied into the repository.
See ``docs/real-data.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from sitsfusion.config import DataConfig, ExperimentConfig, load_config
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.sample import TimeSeries
from sitsfusion.data.splits import stratified_split
from sitsfusion.data.transforms import resample_to_dates
from sitsfusion.experiments.reporting import (
    forest_scores,
    markdown_table,
    mean_std,
    per_class_rows,
    plus_minus,
)
from sitsfusion.io import write_json_atomic, write_text_atomic
from sitsfusion.metrics import format_table
from sitsfusion.outputs import holds_any, mark_complete, output_folder
from sitsfusion.training import fit

__all__ = [
    "DATASET_LABEL",
    "DEFAULT_CONFIG",
    "METRICS",
    "ParcelMeanFeatures",
    "check_same_split",
    "parcel_mean_features",
    "parcel_mean_series",
    "random_forest_scores",
    "run_real_pixelset",
    "split_for",
    "summarize",
]

DATASET_LABEL = "a small real dataset (369 parcels, Karnataka, HLS)"
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "real" / "karnataka_s2.yaml"
#: table column -> key of the score dictionary of :func:`~sitsfusion.metrics.scores_from_confusion`
METRICS: dict[str, str] = {
    "OA": "overall_accuracy",
    "mIoU": "miou",
    "macro_F1": "macro_f1",
    "kappa": "kappa",
}
PSE_LTAE = "PSE+L-TAE"
RANDOM_FOREST = "RF (parcel means)"


# --------------------------------------------------------------------------------------------
# Parcel-mean features
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParcelMeanFeatures:
    """Parcel-mean series on a common date grid, one flattened row per parcel.

    ``features`` is float32 ``[P, T' * C]`` (date-major: the C bands of the first grid date,
    then of the second...), ``grid`` the T' dates in days since ``reference_date``.
    """

    features: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    grid: np.ndarray
    reference_date: str
    channels: int
    class_codes: tuple[int, ...]

    @property
    def series(self) -> np.ndarray:
        """The features as ``[P, T', C]``."""
        return self.features.reshape(len(self.ids), self.grid.size, self.channels)


def parcel_mean_series(ts: TimeSeries) -> TimeSeries:
    """Mean over the valid pixels of a pixel set ``[T, C, N]`` -> ``[T', C, 1]``.

    Dates without any valid pixel are dropped (T' <= T); without a mask every pixel counts.
    """
    if ts.is_patch:
        raise ValueError("parcel_mean_series expects a pixel set [T, C, N], not a patch")
    values = ts.values.double()
    if ts.mask is None:
        valid = torch.ones(values.shape[0], values.shape[2], dtype=torch.bool)
    elif ts.mask.ndim == 1:
        valid = ts.mask[:, None].expand(-1, values.shape[2])
    else:
        valid = ts.mask
    weight = valid.to(values.dtype)
    count = weight.sum(dim=1)  # [T]
    mean = (values * weight[:, None, :]).sum(dim=2) / count.clamp(min=1.0)[:, None]
    keep = count > 0
    if not bool(keep.any()):
        raise ValueError(f"{ts.source or 'series'}: no valid pixel at any date")
    return TimeSeries(mean[keep].float()[:, :, None], ts.dates[keep], None, ts.source)


def parcel_mean_features(data: DataConfig, grid_step: int = 5) -> ParcelMeanFeatures:
    """Parcel-mean features of every parcel of ``data.root`` (a pixel-set folder).

    The parcels, their order and labels are those the data module splits (same nomenclature,
    classes, duplicate-date handling and reference date), so :func:`split_for` applies to both.
    The grid runs every ``grid_step`` days from the dataset's first to its last date; each
    parcel's mean series is linearly interpolated onto it (held outside its own dates).
    """
    from sitsfusion.data.readers.pixelset import PixelSetDataset

    if grid_step < 1:
        raise ValueError(f"grid_step must be >= 1 day, got {grid_step}")
    modality = data.modalities[0]
    dataset = PixelSetDataset(
        Path(data.root),
        nomenclature=data.nomenclature,
        classes=data.classes,
        modality=modality,
        n_pixels=None,
        reference_date=data.reference_date,
        geometric_features=False,
        duplicate_dates=data.duplicate_dates,
    )
    days = [dataset.dates(modality, pid) for pid in dataset.ids]
    first = min(int(d[0]) for d in days)
    last = max(int(d[-1]) for d in days)
    grid = np.arange(first, last + 1, grid_step, dtype=np.int64)
    if grid[-1] != last:
        grid = np.append(grid, last)
    target = torch.from_numpy(grid)
    rows = np.empty((len(dataset), grid.size * dataset.num_channels(modality)), np.float32)
    for i in range(len(dataset)):
        mean = parcel_mean_series(dataset[i][modality])
        on_grid = resample_to_dates(mean, target, method="linear", extrapolate="hold")
        rows[i] = on_grid.values[:, :, 0].reshape(-1).numpy()
    return ParcelMeanFeatures(
        features=rows,
        labels=dataset.labels,
        ids=dataset.ids,
        grid=grid,
        reference_date=dataset.reference_date,
        channels=dataset.num_channels(modality),
        class_codes=dataset.class_codes,
    )


# --------------------------------------------------------------------------------------------
# Splits and the random forest
# --------------------------------------------------------------------------------------------


def split_for(labels: Sequence[int], data: DataConfig) -> list[np.ndarray]:
    """Train / val / test indices: the data module's stratified split of ``data``."""
    return stratified_split(labels, data.split_fractions, data.split_seed)


def check_same_split(
    cfg: ExperimentConfig, ids: Sequence[str], split: Sequence[np.ndarray]
) -> None:
    """Raise ``RuntimeError`` unless the data module of ``cfg`` holds exactly ``split``."""
    dm = SITSDataModule(cfg.data, seed=cfg.train.seed)
    dm.setup()
    for name, ds, index in zip(
        ("train", "val", "test"), (dm.train, dm.val, dm.test), split, strict=True
    ):
        assert ds is not None
        every = getattr(ds.dataset, "ids", ())
        got = tuple(every[i] for i in ds.indices)
        want = tuple(ids[i] for i in index)
        if got != want:
            raise RuntimeError(
                f"the {name} split of the data module differs from the random forest's "
                f"({len(got)} vs {len(want)} parcels)"
            )


def random_forest_scores(
    features: ParcelMeanFeatures,
    split: Sequence[np.ndarray],
    seed: int,
    n_estimators: int = 500,
    fit_on_val: bool = False,
) -> dict[str, Any]:
    """Fit a random forest on the train parcels (and val with ``fit_on_val``); score test.

    Returns the scores of :class:`~sitsfusion.metrics.ClassificationMetrics` on the test
    parcels, the metrics code of the networks' test loop.
    """
    train_idx, val_idx, test_idx = split
    fit_idx = np.concatenate([train_idx, val_idx]) if fit_on_val else train_idx
    x, y = features.features, features.labels
    names = [str(c) for c in features.class_codes]
    scores, _ = forest_scores(
        x[fit_idx], y[fit_idx], x[test_idx], y[test_idx], names, seed, n_estimators
    )
    return scores


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------


def _row(model: str, seed: int, scores: dict[str, Any], seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "seed": seed}
    row.update({col: float(scores[key]) for col, key in METRICS.items()})
    row["seconds"] = round(seconds, 1)
    return row


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof 1) over seeds, one row per model (first-seen order)."""
    summary = mean_std(results, ["model"], list(METRICS))
    summary.insert(0, "n_seeds", results.groupby("model", sort=False)["seed"].nunique())
    return summary.reset_index()


def _summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for rec in summary.to_dict("records"):
        row = {"model": rec["model"], "seeds": int(rec["n_seeds"])}
        row.update({col: plus_minus(rec[f"{col}_mean"], rec[f"{col}_std"]) for col in METRICS})
        rows.append(row)
    return rows


def run_real_pixelset(
    root: str | Path,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    out_dir: str | Path = "runs/real_pixelset",
    epochs: int | None = None,
    *,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    grid_step: int = 5,
    n_estimators: int = 500,
    rf_fit_on_val: bool = False,
    overwrite: bool = False,
    num_threads: int | None = 1,
    console: Console | None = None,
) -> pd.DataFrame:
    """PSE + L-TAE and a random forest for each seed, on the same stratified splits.

    Args:
        root: the ``pixelset_karnataka_hls`` folder (or another single-sensor pixel-set one).
        seeds: each sets ``data.split_seed``, ``train.seed`` and the forest's ``random_state``.
        out_dir: receives ``pse_ltae/seed_<s>/`` (the training runs), ``results.csv`` (one row
            per model and seed), ``per_class.csv``, ``summary.csv``, ``summary.md`` and
            ``run.json``.
        epochs: overrides ``train.epochs`` of the config (None: the config's).
        config: the PSE + L-TAE config (default ``configs/real/karnataka_s2.yaml``).
        overrides: dotted overrides of that config, e.g. ``"model.decoder=[8]"``.
        grid_step: days between the forest's grid dates.
        n_estimators: trees of the forest.
        rf_fit_on_val: fit the forest on train + val (default: train only, as the network;
            the network uses val only to choose its checkpoint).
        overwrite: delete an earlier run of this experiment in ``out_dir`` first (default:
            resume it: finished trainings are read, an interrupted one continues, the forest
            and the tables are computed again).
        num_threads: torch intra-op threads during the run, restored afterwards (None: leave
            them). One thread trained 3-9x faster than two on a shared 2-core machine.
        console: where the tables are printed (default: a new rich console).

    Returns:
        the tidy table: ``model, seed, OA, mIoU, macro_F1, kappa, seconds``.
    """
    if not seeds:
        raise ValueError("seeds: give at least one seed")
    out = Path(out_dir)
    with output_folder(
        out,
        kind="experiment",
        overwrite=overwrite,
        inputs=[root],
        owned=holds_any("run.json", "results.csv", "pse_ltae"),
        reuse=not overwrite,  # resumed
        command="experiment real-pixelset",
    ):
        table = _run(
            root,
            seeds,
            out,
            epochs,
            config,
            overrides,
            grid_step,
            n_estimators,
            rf_fit_on_val,
            num_threads,
            console,
        )
        mark_complete(out)
    return table


def _run(
    root: str | Path,
    seeds: Sequence[int],
    out: Path,
    epochs: int | None,
    config: str | Path | None,
    overrides: Sequence[str],
    grid_step: int,
    n_estimators: int,
    rf_fit_on_val: bool,
    num_threads: int | None,
    console: Console | None,
) -> pd.DataFrame:
    """:func:`run_real_pixelset` in its locked output folder ``out``."""
    start = time.perf_counter()
    config_path = Path(config) if config is not None else DEFAULT_CONFIG
    extra = [*overrides, *([f"train.epochs={epochs}"] if epochs is not None else [])]

    def config_for(seed: int) -> ExperimentConfig:
        cfg = load_config(config_path, extra)
        cfg.data.root = str(root)
        cfg.data.split_seed = int(seed)
        cfg.train.seed = int(seed)
        return cfg

    t0 = time.perf_counter()
    features = parcel_mean_features(config_for(seeds[0]).data, grid_step)
    feature_seconds = time.perf_counter() - t0

    rows: list[dict[str, Any]] = []
    per_class: list[dict[str, Any]] = []
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        for seed in seeds:
            cfg = config_for(seed)
            split = split_for(features.labels, cfg.data)
            check_same_split(cfg, features.ids, split)

            t0 = time.perf_counter()
            result = fit(cfg, out / "pse_ltae" / f"seed_{seed}", resume=True)
            if not result.scores:
                raise RuntimeError(f"seed {seed}: PSE + L-TAE produced no checkpoint to test")
            rows.append(_row(PSE_LTAE, seed, result.scores, time.perf_counter() - t0))
            per_class += per_class_rows(result.scores, model=PSE_LTAE, seed=seed)

            t0 = time.perf_counter()
            scores = random_forest_scores(features, split, seed, n_estimators, rf_fit_on_val)
            rows.append(_row(RANDOM_FOREST, seed, scores, time.perf_counter() - t0))
            per_class += per_class_rows(scores, model=RANDOM_FOREST, seed=seed)
    finally:
        torch.set_num_threads(threads)

    results = pd.DataFrame(rows)
    results.attrs["dataset"] = DATASET_LABEL
    summary = summarize(results)
    total = time.perf_counter() - start
    write_text_atomic(out / "results.csv", results.to_csv(index=False))
    write_text_atomic(out / "per_class.csv", pd.DataFrame(per_class).to_csv(index=False))
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    title = f"Test scores, mean ± std over {len(seeds)} seed(s) — {DATASET_LABEL}"
    write_text_atomic(out / "summary.md", f"{title}\n\n{markdown_table(_summary_rows(summary))}")
    run = {
        "dataset": DATASET_LABEL,
        "root": str(root),
        "config": str(config_path),
        "overrides": extra,
        "seeds": [int(s) for s in seeds],
        "epochs": config_for(seeds[0]).train.epochs,
        "grid_step_days": grid_step,
        "grid_dates": len(features.grid),
        "reference_date": features.reference_date,
        "n_estimators": n_estimators,
        "rf_fit_on_val": rf_fit_on_val,
        "num_threads": num_threads,
        "feature_seconds": round(feature_seconds, 1),
        "total_seconds": round(total, 1),
    }
    write_json_atomic(out / "run.json", run, indent=2)

    console = console or Console()
    shown = [{**row, "seconds": f"{row['seconds']:.1f}"} for row in rows]
    console.print(format_table(shown, title=f"Per seed — {DATASET_LABEL}", digits=3))
    console.print(format_table(_summary_rows(summary), title=title))
    console.print(f"total time {total / 60:.1f} min; results in {out}", soft_wrap=True)
    return results
