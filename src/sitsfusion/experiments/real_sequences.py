"""Sequence classifiers against a random forest on two small real datasets.

Datasets (never copied into the repository; see ``docs/real-data.md``):

* ``formosat2`` — a small real dataset (520 pixels, Formosat-2, Toulouse 2006): the TempCNN
  data of Pelletier et al. 2019, a wide table (:class:`~sitsfusion.data.readers.tables.
  WideTableDataset`), 149 dates × 3 bands, 13 classes. Protocol: the train / test files as
  given, validation = a stratified quarter of the training file's polygons (grouped by polygon
  id); one repetition per seed, the seed fixing the validation split and the training.
* ``rondonia`` — a small real dataset (481 samples, Sentinel-2, Rondônia 2018-19), a long table
  (:class:`~sitsfusion.data.readers.tables.LongTableDataset`), 36 dates × 11 features,
  3 classes. Protocol: stratified 5-fold cross-validation (``data.split: kfold``; test = fold
  ``f``, validation = fold ``f + 1``); one repetition per fold.

Models, each trained through :func:`sitsfusion.training.fit` with its config
``configs/real/<dataset>_<model>.yaml`` (best checkpoint by validation mIoU): TempCNN, LSTM,
Transformer (seed 004 Sec. VI-B) and PSE + L-TAE (seed 001; PSE on the one-pixel "sets" of the
tables); on request (``--models``) also a Transformer projected to d_model 64, not a seed-004
configuration. The baseline is a random forest (scikit-learn, 500 trees) on the flattened raw series
``[T·C]`` (date-major), fitted on the training part only. Every model of a repetition is scored
on the same test samples — the indices the data module of each network's config yields, checked
to be identical to the forest's — with the same metrics code
(:class:`~sitsfusion.metrics.ClassificationMetrics`).

Run it with ``sitsfusion experiment real-sequences --dataset formosat2 --root DIR`` (output
``runs/real_<dataset>`` unless ``--out DIR``). The run is resumable: finished (model,
repetition) pairs are recorded in ``runs.jsonl`` and skipped when the command is run again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from sitsfusion.config import ExperimentConfig, load_config
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.experiments.reporting import (
    forest_scores,
    markdown_table,
    mean_std,
    per_class_rows,
    plus_minus,
)
from sitsfusion.io import write_json_atomic, write_text_atomic
from sitsfusion.metrics import format_table
from sitsfusion.models.builder import count_parameters
from sitsfusion.outputs import holds_any, mark_complete, output_folder
from sitsfusion.training import build_task, fit

__all__ = [
    "CONFIG_DIR",
    "DATASETS",
    "DEFAULT_MODELS",
    "METRICS",
    "MODELS",
    "RANDOM_FOREST",
    "DatasetSpec",
    "SplitData",
    "config_for",
    "random_forest_scores",
    "run_real_sequences",
    "split_data",
    "summarize",
]

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "real"
#: table column -> key of the score dictionary of :func:`~sitsfusion.metrics.scores_from_confusion`
METRICS: dict[str, str] = {
    "OA": "overall_accuracy",
    "mIoU": "miou",
    "macro_F1": "macro_f1",
    "weighted_F1": "weighted_f1",
}
#: model name in the tables -> config suffix (``configs/real/<dataset>_<suffix>.yaml``)
MODELS: dict[str, str] = {
    "TempCNN": "tempcnn",
    "LSTM": "lstm",
    "Transformer": "transformer",
    "PSE+L-TAE": "pse_ltae",
    # not a seed-004 configuration: the Transformer projected to d_model 64 with seed 004's
    # 2 heads, run only on request to see whether the input width (3 or 11) is what limits it
    "Transformer (d_model 64)": "transformer_d64",
}
#: the models run by default: the four of the task (TempCNN, LSTM, Transformer, PSE + L-TAE)
DEFAULT_MODELS: tuple[str, ...] = ("TempCNN", "LSTM", "Transformer", "PSE+L-TAE")
RANDOM_FOREST = "RF (flattened series)"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the experiment.

    Attributes:
        name: ``formosat2`` or ``rondonia`` (the config prefix).
        label: how tables name it ("a small real dataset (…)").
        protocol: ``"files"`` (the given train / test files, one repetition per seed) or
            ``"kfold"`` (one repetition per fold).
        apply_root: sets the data paths of a config from the dataset folder.
    """

    name: str
    label: str
    protocol: str
    apply_root: Callable[[ExperimentConfig, Path], None]


def _formosat2_root(cfg: ExperimentConfig, root: Path) -> None:
    cfg.data.root = str(root)
    cfg.data.train_roots = [str(root / "train_dataset.csv")]
    cfg.data.test_roots = [str(root / "test_dataset.csv")]


def _rondonia_root(cfg: ExperimentConfig, root: Path) -> None:
    cfg.data.root = str(root / "samples_S2_T20LKP_2018_2019.csv")


DATASETS: dict[str, DatasetSpec] = {
    "formosat2": DatasetSpec(
        "formosat2",
        "a small real dataset (520 pixels, Formosat-2, Toulouse 2006)",
        "files",
        _formosat2_root,
    ),
    "rondonia": DatasetSpec(
        "rondonia",
        "a small real dataset (481 samples, Sentinel-2, Rondonia 2018-19)",
        "kfold",
        _rondonia_root,
    ),
}


def config_for(
    dataset: str,
    model: str,
    repetition: int,
    root: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> ExperimentConfig:
    """The config of ``model`` (a key of :data:`MODELS`) for one repetition of ``dataset``.

    ``files`` protocol: ``data.split_seed`` = ``train.seed`` = ``repetition`` (a seed);
    ``kfold``: ``data.fold`` = ``train.seed`` = ``repetition`` (a fold, the split seed fixed).
    ``root`` (the dataset folder) replaces the config's data paths; ``overrides`` are dotted
    ``KEY=VALUE`` overrides applied when loading.
    """
    spec = DATASETS[dataset]
    cfg = load_config(CONFIG_DIR / f"{dataset}_{MODELS[model]}.yaml", overrides)
    if root is not None:
        spec.apply_root(cfg, Path(root))
    if spec.protocol == "kfold":
        cfg.data.fold = int(repetition)
    else:
        cfg.data.split_seed = int(repetition)
    cfg.train.seed = int(repetition)
    return cfg


# --------------------------------------------------------------------------------------------
# Splits and the random forest
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitData:
    """The raw series of one repetition's parts, as the data module splits them.

    ``x_*`` are float32 ``[N, T·C]`` flattened raw series (date-major: the C channels of the
    first date, then of the second…; no normalisation), ``y_*`` int64 ``[N]`` labels,
    ``*_index`` the int64 indices into the part's reader (the training file, or the one pool
    for k-fold) that the data module selected.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    class_names: tuple[str, ...]
    dates: int
    channels: int

    def fingerprint(self) -> str:
        """A short hash of the train / val / test indices (equal splits, equal hashes)."""
        digest = hashlib.sha1()
        for part in (self.train_index, self.val_index, self.test_index):
            digest.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
        return digest.hexdigest()[:12]


def _flat_series(pool: Any, index: np.ndarray, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """``([N, T·C] float32, [N] int64)`` of the untransformed samples ``pool[index]``."""
    rows, labels = [], []
    for i in np.asarray(index, dtype=np.int64):
        sample = pool[int(i)]
        values = sample[modality].values  # [T, C, 1]: a one-pixel series
        if values.ndim != 3 or values.shape[-1] != 1:
            raise ValueError(f"expected one-pixel series [T, C, 1], got {tuple(values.shape)}")
        rows.append(values[:, :, 0].reshape(-1).numpy())
        labels.append(int(sample.label))
    lengths = {r.size for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"series of different lengths {sorted(lengths)}: cannot flatten them")
    return np.stack(rows).astype(np.float32), np.asarray(labels, dtype=np.int64)


def split_data(cfg: ExperimentConfig, dm: SITSDataModule | None = None) -> SplitData:
    """The parts of ``cfg``'s data module as flat raw series for the forest.

    ``dm``: that data module when already built (it is set up here if needed).
    """
    dm = dm or SITSDataModule(cfg.data, seed=cfg.train.seed, target=cfg.task)
    dm.setup()
    modality = cfg.data.modalities[0]
    parts = []
    for subset in (dm.train, dm.val, dm.test):
        pool, index = getattr(subset, "dataset", None), getattr(subset, "indices", None)
        if pool is None or index is None:
            raise TypeError(f"data.format {cfg.data.format!r}: not an indexed pool subset")
        parts.append((pool, np.asarray(index, dtype=np.int64)))
    x_train, y_train = _flat_series(*parts[0], modality)
    x_test, y_test = _flat_series(*parts[2], modality)
    probe = parts[0][0][int(parts[0][1][0])][modality]
    return SplitData(
        x_train,
        y_train,
        x_test,
        y_test,
        parts[0][1],
        parts[1][1],
        parts[2][1],
        tuple(dm.class_names),
        probe.num_dates,
        probe.num_channels,
    )


def random_forest_scores(
    data: SplitData, seed: int, n_estimators: int = 500
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit a random forest on the training part; score the test part.

    Returns the scores of :class:`~sitsfusion.metrics.ClassificationMetrics` (the networks'
    test-loop metrics) and the predicted labels ``[N_test]``.
    """
    return forest_scores(
        data.x_train,
        data.y_train,
        data.x_test,
        data.y_test,
        list(data.class_names),
        seed,
        n_estimators,
    )


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof 1) over repetitions, one row per dataset and model."""
    groups = results.groupby(["dataset", "model"], sort=False)
    summary = mean_std(results, ["dataset", "model"], list(METRICS))
    summary.insert(0, "repetitions", groups["repetition"].nunique())
    summary["params"] = groups["params"].first()
    summary["seconds_mean"] = groups["seconds"].mean()
    return summary.reset_index()


def _summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for rec in summary.to_dict("records"):
        row: dict[str, Any] = {"model": rec["model"], "runs": int(rec["repetitions"])}
        row.update({col: plus_minus(rec[f"{col}_mean"], rec[f"{col}_std"]) for col in METRICS})
        params = rec["params"]
        row["params"] = "–" if pd.isna(params) else f"{int(params):,}"
        row["s / run"] = f"{rec['seconds_mean']:.0f}"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------


def _load_runs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_run(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def _record(
    dataset: str,
    model: str,
    repetition: int,
    scores: dict[str, Any],
    seconds: float,
    params: int | None,
    split: SplitData,
    extra: dict[str, Any],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "repetition": int(repetition),
    }
    row.update({col: float(scores[key]) for col, key in METRICS.items()})
    row["seconds"] = round(seconds, 1)
    row["params"] = params
    row["split"] = split.fingerprint()
    row["test_index"] = [int(i) for i in split.test_index]
    row["test_support"] = [int(s) for s in scores["support"]]
    row["per_class"] = per_class_rows(
        scores, **{k: row[k] for k in ("dataset", "model", "repetition")}
    )
    row.update(extra)
    return row


def run_real_sequences(
    dataset: str,
    root: str | Path,
    out_dir: str | Path,
    repetitions: Sequence[int] | None = None,
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    model_overrides: dict[str, Sequence[str]] | None = None,
    n_estimators: int = 500,
    overwrite: bool = False,
    num_threads: int | None = 1,
    console: Console | None = None,
) -> pd.DataFrame:
    """Every model of ``models`` and the random forest, for each repetition of ``dataset``.

    Args:
        dataset: ``formosat2`` or ``rondonia``.
        root: the dataset folder (``tempcnn_formosat2/`` or ``sits_s2_rondonia/``).
        out_dir: receives ``<model>/rep_<r>/`` (the training runs), ``runs.jsonl`` (one line per
            finished run, the resume log), ``results.csv``, ``per_class.csv``, ``splits.json``
            (test indices of every run), ``summary.csv``, ``summary.json``, ``summary.md`` and
            ``run.json``.
        repetitions: seeds (``formosat2``, default 0, 1, 2) or folds (``rondonia``, default
            0..4).
        models: keys of :data:`MODELS` to train (the forest always runs). The tables show
            every model recorded in ``out_dir`` for these repetitions, so a later call with
            another model adds a row to them.
        epochs: overrides ``train.epochs`` of every config (None: the configs').
        overrides: dotted overrides applied to every config, e.g. ``"data.batch_size=64"``.
        model_overrides: extra overrides per model key, e.g. ``{"LSTM": ["model.temporal=…"]}``.
        n_estimators: trees of the forest.
        overwrite: delete an earlier run in ``out_dir`` first (default: resume it).
        num_threads: torch intra-op threads during the run, restored afterwards (None: leave).
        console: where the tables are printed (default: a new rich console).

    Returns:
        the tidy table: ``dataset, model, repetition, OA, mIoU, macro_F1, weighted_F1,
        seconds, params, split, batch_size``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose among {list(MODELS)}")
    spec = DATASETS[dataset]
    if repetitions is None:
        repetitions = (0, 1, 2) if spec.protocol == "files" else (0, 1, 2, 3, 4)
    if not repetitions:
        raise ValueError("repetitions: give at least one seed or fold")
    out = Path(out_dir)
    with output_folder(
        out,
        kind="experiment",
        overwrite=overwrite,
        inputs=[root],
        owned=holds_any("runs.jsonl"),
        reuse=not overwrite,  # resumed
        command=f"experiment real-sequences {dataset}",
    ):
        table = _run(
            dataset,
            root,
            out,
            repetitions,
            models,
            epochs,
            overrides,
            model_overrides,
            n_estimators,
            num_threads,
            console,
        )
        mark_complete(out)
    return table


def _run(
    dataset: str,
    root: str | Path,
    out: Path,
    repetitions: Sequence[int],
    models: Sequence[str],
    epochs: int | None,
    overrides: Sequence[str],
    model_overrides: dict[str, Sequence[str]] | None,
    n_estimators: int,
    num_threads: int | None,
    console: Console | None,
) -> pd.DataFrame:
    """:func:`run_real_sequences` in its locked output folder ``out``."""
    start = time.perf_counter()
    spec = DATASETS[dataset]
    log = out / "runs.jsonl"
    done = {(r["model"], r["repetition"]): r for r in _load_runs(log)}
    extra_overrides = [
        *overrides,
        *([f"train.epochs={epochs}"] if epochs is not None else []),
    ]
    per_model = model_overrides or {}

    def cfg_of(model: str, rep: int) -> ExperimentConfig:
        return config_for(dataset, model, rep, root, [*extra_overrides, *per_model.get(model, [])])

    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    console = console or Console()
    try:
        for rep in repetitions:
            base = cfg_of(models[0] if models else "TempCNN", rep)
            split = split_data(base)
            if (RANDOM_FOREST, rep) not in done:
                t0 = time.perf_counter()
                scores, _ = random_forest_scores(split, seed=int(rep), n_estimators=n_estimators)
                row = _record(
                    dataset,
                    RANDOM_FOREST,
                    rep,
                    scores,
                    time.perf_counter() - t0,
                    None,
                    split,
                    {"batch_size": None, "epochs": None},
                )
                _append_run(log, row)
                done[(RANDOM_FOREST, rep)] = row
            for model in models:
                if (model, rep) in done:
                    continue
                cfg = cfg_of(model, rep)
                dm = SITSDataModule(cfg.data, seed=cfg.train.seed, target=cfg.task)
                mine = split_data(cfg, dm)  # the split this network's data module yields
                if mine.fingerprint() != split.fingerprint():
                    raise RuntimeError(
                        f"{model}, repetition {rep}: its data module splits the samples "
                        f"differently from the random forest's ({mine.fingerprint()} vs "
                        f"{split.fingerprint()}); the configs' data sections must agree"
                    )
                t0 = time.perf_counter()
                result = fit(cfg, out / MODELS[model] / f"rep_{rep}", resume=True)
                seconds = time.perf_counter() - t0
                if not result.scores:
                    raise RuntimeError(f"{model}, repetition {rep}: no checkpoint to test")
                params = count_parameters(build_task(cfg, dm).model)
                row = _record(
                    dataset,
                    model,
                    rep,
                    result.scores,
                    seconds,
                    params,
                    mine,
                    {"batch_size": cfg.data.batch_size, "epochs": cfg.train.epochs},
                )
                _append_run(log, row)
                done[(model, rep)] = row
                console.print(
                    f"{dataset} {model} rep {rep}: OA {row['OA']:.3f} mIoU {row['mIoU']:.3f} "
                    f"({seconds:.0f} s)"
                )
    finally:
        torch.set_num_threads(threads)

    order = [*MODELS, RANDOM_FOREST]
    records = sorted(
        (r for r in done.values() if r["model"] in order and r["repetition"] in repetitions),
        key=lambda r: (
            order.index(r["model"]),
            list(repetitions).index(r["repetition"]),
        ),
    )
    shown_models = list(dict.fromkeys(r["model"] for r in records))
    columns = ["dataset", "model", "repetition", *METRICS, "seconds", "params", "split"]
    results = pd.DataFrame([{c: r[c] for c in [*columns, "batch_size"]} for r in records])
    results = results.astype({"params": "Int64", "batch_size": "Int64"})
    results.attrs["dataset"] = spec.label
    summary = summarize(results)
    total = time.perf_counter() - start
    write_text_atomic(out / "results.csv", results.to_csv(index=False))
    per_class = pd.DataFrame([c for r in records for c in r["per_class"]])
    write_text_atomic(out / "per_class.csv", per_class.to_csv(index=False))
    splits = {f"{r['model']}/rep_{r['repetition']}": r["test_index"] for r in records}
    write_text_atomic(out / "splits.json", json.dumps(splits) + "\n")
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    write_text_atomic(
        out / "summary.json",
        json.dumps(summary.to_dict("records"), indent=2, default=float) + "\n",
    )
    unit = "seed" if spec.protocol == "files" else "fold"
    title = f"Test scores, mean ± std over {len(repetitions)} {unit}(s) — {spec.label}"
    write_text_atomic(out / "summary.md", f"{title}\n\n{markdown_table(_summary_rows(summary))}")
    first = cfg_of(models[0] if models else "TempCNN", repetitions[0])
    run = {
        "dataset": dataset,
        "label": spec.label,
        "root": str(root),
        "protocol": spec.protocol,
        "repetitions": [int(r) for r in repetitions],
        "models": [m for m in shown_models if m != RANDOM_FOREST],
        "overrides": extra_overrides,
        "model_overrides": {k: list(v) for k, v in per_model.items()},
        "epochs": first.train.epochs,
        "n_estimators": n_estimators,
        "num_threads": num_threads,
        "dates": split.dates,
        "channels": split.channels,
        "train_val_test": [
            int(split.train_index.size),
            int(split.val_index.size),
            int(split.test_index.size),
        ],
        "total_seconds_this_call": round(total, 1),
        "training_seconds_all_runs": round(float(results["seconds"].sum()), 1),
    }
    write_json_atomic(out / "run.json", run, indent=2)

    shown = [
        {
            **{k: v for k, v in r.items() if k not in ("dataset", "split", "batch_size")},
            "params": "–" if pd.isna(r["params"]) else f"{int(r['params']):,}",
        }
        for r in results.to_dict("records")
    ]
    console.print(format_table(shown, title=f"Per run — {spec.label}", digits=3))
    console.print(format_table(_summary_rows(summary), title=title))
    console.print(f"{total / 60:.1f} min in this call; results in {out}", soft_wrap=True)
    return results
