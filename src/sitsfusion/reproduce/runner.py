"""Run an experiment's grid (configs x folds x seeds) through ``fit`` / ``evaluate``, resumably.

``OUT`` receives ``data/`` (the **synthetic** dataset simulated once, when no ``--data ROOT``
is given), ``runs/<label>/fold_<fold>_seed_<seed>/`` (one run folder of
:func:`sitsfusion.training.fit` each), ``results.csv`` (one row per run), ``reproduce.log``
(one line per run) and the report (:mod:`sitsfusion.reproduce.report`); an experiment with
:attr:`~sitsfusion.reproduce.registry.Experiment.robustness` also ``robustness/<label>/
fold_<fold>_seed_<seed>/`` (each run tested again with fewer S2 observations). A run whose folder
holds a finished run and its test report is read back, not trained again; an interrupted run
continues from its last finished epoch (``fit(..., resume=True)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sitsfusion.io import read_json, write_text_atomic
from sitsfusion.outputs import created_by_sitsfusion, holds_any, mark_complete, output_folder
from sitsfusion.reproduce.registry import METRIC_NAMES, Experiment, Fold
from sitsfusion.runs import RunFolderError, now

__all__ = [
    "DATA_DIR",
    "RESULTS",
    "ROBUSTNESS_DIR",
    "RUNS_DIR",
    "RunSpec",
    "grid",
    "run_experiment",
    "run_overrides",
]

DATA_DIR = "data"
"""The simulated dataset's folder in ``OUT`` (synthetic)."""
RUNS_DIR = "runs"
"""The run folders' folder in ``OUT``."""
ROBUSTNESS_DIR = "robustness"
"""The folder in ``OUT`` of the runs' tests with fewer S2 observations (seed 001 Fig. 8)."""
RESULTS = "results.csv"
LOG = "reproduce.log"
KIND = "reproduce"
"""The kind of output folder ``sitsfusion reproduce`` writes (:data:`sitsfusion.outputs.MARK`)."""


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: a config label, a fold and a seed."""

    label: str
    fold: Fold
    seed: int

    @property
    def folder(self) -> Path:
        """The run folder, relative to ``OUT``."""
        return Path(RUNS_DIR) / self.label / f"fold_{self.fold.name}_seed_{self.seed}"


def grid(exp: Experiment, preset: str) -> list[RunSpec]:
    """The runs of ``exp``'s ``preset``, config by config, then fold, then seed."""
    chosen = exp.preset(preset)
    return [
        RunSpec(label, fold, seed)
        for label in exp.labels(preset)
        for fold in chosen.folds
        for seed in chosen.seeds
    ]


def _modality_overrides(cfg: Any, mapping: dict[str, str]) -> list[str]:
    """Overrides renaming ``cfg``'s modalities by ``mapping``, and its per-modality keys
    (temporal dropout, sub-sequences, removals) too."""
    if not mapping or not set(cfg.data.modalities) & set(mapping):
        return []
    rename = lambda m: mapping.get(m, m)  # noqa: E731
    items = [f"data.modalities=[{', '.join(rename(m) for m in cfg.data.modalities)}]"]
    for key in ("temporal_dropout", "subsequence", "eval_drop"):
        value = getattr(cfg.data, key)
        kept = {rename(k): v for k, v in value.items()}
        if kept != value:
            inner = ", ".join(f"{k}: {v}" for k, v in kept.items())
            items.append(f"data.{key}={{{inner}}}")
    if cfg.data.resample_to in mapping:
        items.append(f"data.resample_to={rename(cfg.data.resample_to)}")
    return items


def run_overrides(
    exp: Experiment,
    preset: str,
    spec: RunSpec,
    root: Path,
    synthetic_layout: bool,
    overrides: Sequence[str] = (),
) -> Any:
    """The resolved config (:class:`~sitsfusion.config.ExperimentConfig`) of one run: the
    config file, the dataset's overrides (``{root}`` substituted), the fold's, the preset's
    (then those of the preset for this config's label), ``train.seed``, then the caller's
    ``overrides``."""
    from sitsfusion.config import load_config

    kind = exp.dataset
    data = kind.overrides if synthetic_layout else kind.real_overrides
    items = [
        *(o.replace("{root}", str(root)) for o in data),
        *spec.fold.overrides,
        *exp.preset(preset).overrides,
        *exp.preset(preset).label_overrides.get(spec.label, ()),
        f"train.seed={spec.seed}",
    ]
    path = exp.config_path(spec.label)
    cfg = load_config(path, [*items, *overrides])
    if synthetic_layout and kind.modality_map:
        renamed = _modality_overrides(cfg, dict(kind.modality_map))
        if renamed:
            cfg = load_config(path, [*items, *renamed, *overrides])
    return cfg


def _synthetic(root: Path, reader: str | None = None) -> bool:
    """True for a dataset the simulator wrote (its reader says so from the metadata), of the
    ``reader`` format if given."""
    from sitsfusion.data.readers import detect_format
    from sitsfusion.training import is_synthetic

    try:
        return is_synthetic(root) and (reader is None or detect_format(root) == reader)
    except Exception:  # a layout no reader recognises as a whole: taken as real
        return False


def _check_data(exp: Experiment, data: Path) -> Path:
    """``data`` resolved, or a one-line ValueError naming ``--data`` and what it must hold (a
    simulated dataset of the experiment's simulated format is read as on ``--quick``)."""
    root = Path(data).expanduser()
    if not root.is_dir():
        raise ValueError(f"--data: {root} is not a folder; give {exp.dataset.layout}")
    if _synthetic(root, exp.dataset.simulated_reader):
        return root.resolve()
    for template in exp.dataset.real_paths:
        path = Path(template.replace("{root}", str(root)))
        if not path.exists():
            raise ValueError(f"--data: {path} not found; {exp.name} needs {exp.dataset.layout}")
    return root.resolve()


def _simulate(exp: Experiment, target: Path, options: dict[str, Any], log: Callable) -> Path:
    """The synthetic dataset of ``exp`` in ``target``: read back when a complete one is there,
    else simulated (``sitsfusion simulate --format <exp.dataset.simulate_format>``)."""
    from sitsfusion.simulate.formats import FORMATS

    mark = read_json(target / ".sitsfusion.json") if created_by_sitsfusion(target) else None
    if mark is not None and mark.get("kind") == "dataset" and mark.get("complete"):
        log(f"synthetic dataset found: {target}")
        return target
    spec = FORMATS[exp.dataset.simulate_format]
    t0 = time.perf_counter()
    spec.writer(target, **options, overwrite=target.exists())
    log(
        f"simulated {exp.dataset.simulate_format} ({options}) into {target} in "
        f"{time.perf_counter() - t0:.1f} s (synthetic data)"
    )
    return target


def _row(exp: Experiment, spec: RunSpec, scores: dict[str, Any], record: dict) -> dict:
    row: dict[str, Any] = {
        "experiment": exp.name,
        "config": spec.label,
        "fold": spec.fold.name,
        "seed": spec.seed,
    }
    for key in METRIC_NAMES:
        if key in scores and scores[key] is not None:
            row[key] = float(scores[key])
    row["epochs"] = record.get("epochs")
    row["started"], row["finished"] = record.get("started"), record.get("finished")
    row["run"] = spec.folder.as_posix()
    return row


def _robustness(
    exp: Experiment, cfg: Any, checkpoint: str | Path, where: Path, row: dict[str, Any]
) -> dict[str, float]:
    """``<metric>_kept_<pct>`` for each share of :attr:`Experiment.robustness` and
    ``<metric>_drop`` of one trained run (``row`` holds its plain test scores): the run tested
    again with the other S2 observations removed, reports in ``where`` (read back when there).
    A model without S2 keeps its score: removing optical dates changes nothing it reads."""
    from sitsfusion.experiments.cloud_robustness import SCORES, run_cloud_robustness

    metric = exp.metrics[0]
    if metric not in row:
        return {}
    kept = sorted((k for k in exp.robustness if k < 1.0), reverse=True)
    if "S2" in cfg.data.modalities:
        column = next(name for name, key in SCORES.items() if key == metric)
        table = run_cloud_robustness([(cfg, checkpoint)], where, kept=kept)
        values = dict(zip(table["kept"], table[column], strict=True))
    else:
        values = dict.fromkeys(kept, row[metric])
    scores = {f"{metric}_kept_{round(100 * k)}": float(values[k]) for k in kept}
    scores[f"{metric}_drop"] = row[metric] - scores[f"{metric}_kept_{round(100 * kept[-1])}"]
    return scores


def run_experiment(
    exp: Experiment,
    out: str | Path,
    preset: str = "quick",
    data: str | Path | None = None,
    overrides: Sequence[str] = (),
    console: Console | None = None,
    report: bool = True,
) -> pd.DataFrame:
    """Run (or resume) ``exp``'s ``preset`` grid in ``out`` and write ``results.csv`` (and the
    report, unless ``report`` is False).

    Args:
        exp: the experiment (:data:`sitsfusion.reproduce.registry.EXPERIMENTS`).
        out: the output folder (created, or one this command made: resumed).
        preset: ``quick`` (a small **synthetic** dataset simulated into ``out/data`` unless
            ``data`` is given) or ``full`` (the paper's protocol; needs ``data``).
        data: a real dataset root (``exp.dataset.layout``); None: simulate.
        overrides: config overrides applied to every run, last (``--set``).
        console: where progress goes (default: a new rich console).
        report: write ``report.md`` / ``report.html`` / the figure too.

    Returns:
        one row per run: experiment, config, fold, seed, the scores of
        :data:`~sitsfusion.reproduce.registry.METRIC_NAMES`, epochs, start / end, run folder.

    Raises:
        ValueError: an unknown preset, a bad ``data`` root, a preset that needs ``data``.
    """
    from sitsfusion.training import evaluate, fit

    settings = exp.preset(preset)
    root = None if data is None else _check_data(exp, Path(data))
    if root is None and settings.simulate is None:
        raise ValueError(
            f"--data: the {preset} preset of {exp.name} needs the real dataset "
            f"({exp.dataset.layout}); --quick simulates one"
        )
    console = console or Console()
    out = Path(out)
    runs = grid(exp, preset)
    with output_folder(
        out,
        kind=KIND,
        inputs=[root] if root is not None else [],
        owned=holds_any(RESULTS),
        reuse=True,  # finished runs are read back
        command=f"reproduce {exp.name} --{preset}",
    ):
        log_path = out / LOG

        def log(message: str) -> None:
            console.print(message, soft_wrap=True, highlight=False)
            with log_path.open("a", encoding="utf-8") as f:
                f.write(f"{now()} {message}\n")

        log(f"{exp.name}, preset {preset}: {len(runs)} runs")
        if root is None:
            options = dict(settings.simulate or {})
            root = _simulate(exp, (out / DATA_DIR).resolve(), options, log)
        synthetic = _synthetic(root)
        layout = data is None or _synthetic(root, exp.dataset.simulated_reader)
        rows, trained = [], 0
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(exp.name, total=len(runs))
            for spec in runs:
                progress.update(task, description=f"{exp.name}: {spec.folder.as_posix()}")
                cfg = run_overrides(exp, preset, spec, root, layout, overrides)
                t0 = time.perf_counter()
                try:
                    result = fit(cfg, out / spec.folder, resume=True)
                except RunFolderError as exc:  # another preset, --data or --set in this OUT
                    raise RunFolderError(
                        f"{exc}; this OUT holds runs of other settings: choose another --out"
                    ) from None
                scores = result.scores
                if not scores and result.checkpoint is not None:  # finished, report missing
                    scores = evaluate(cfg, result.checkpoint)
                record = read_json(out / spec.folder / "run.json")
                row = _row(exp, spec, scores, record)
                if exp.robustness and result.checkpoint is not None:
                    where = out / ROBUSTNESS_DIR / spec.folder.relative_to(RUNS_DIR)
                    row |= _robustness(exp, cfg, result.checkpoint, where, row)
                rows.append(row)
                if result.resumed == "finished":
                    log(f"{spec.folder.as_posix()}: finished before, read back")
                else:
                    trained += 1
                    shown = ", ".join(
                        f"{METRIC_NAMES[k]} {row[k]:.3f}" for k in exp.metrics if k in row
                    )
                    log(
                        f"{spec.folder.as_posix()}: trained in "
                        f"{time.perf_counter() - t0:.1f} s; {shown}"
                    )
                progress.advance(task)
        table = pd.DataFrame(rows)
        write_text_atomic(out / RESULTS, table.to_csv(index=False))
        log(f"{trained} runs trained, {len(runs) - trained} read back; {out / RESULTS}")
        if report:
            from sitsfusion.reproduce.report import write_report

            paths = write_report(exp, table, out, root, synthetic, preset)
            log("report: " + ", ".join(str(p) for p in paths))
        mark_complete(out, experiment=exp.name, preset=preset, synthetic=synthetic)
    return table
