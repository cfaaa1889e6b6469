"""Fit / validate / test an experiment config with Lightning (used by the CLI and the demo).

Runs land in run folders (:mod:`sitsfusion.runs`): ``fit`` writes ``<train.out_dir>/<task>/
<name>`` by default; :func:`evaluate` writes a checkpoint's report into its run folder
(``test/``, ``val/``) or a folder of the caller's choice, never over another run's report.
On a terminal, Lightning's progress bar shows the training; otherwise (a log file, a pipe)
:class:`EpochLogLine` prints one line per epoch.

A run folder is checked, locked and marked through :mod:`sitsfusion.outputs` (never the
data it reads, never a folder ``fit`` did not make, one process at a time). It holds
``checkpoints/last.ckpt``, the state after the last finished epoch (random generators
included, :mod:`sitsfusion.callbacks`), and ``run.json`` says where the run is (``status``:
training, testing, finished, diverged): ``fit(..., resume=True)`` continues a killed run to
the result the uninterrupted run would have had. See docs/reliability.md.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from sitsfusion.callbacks import (
    AtomicCheckpointIO,
    EpochLogLine,
    RNGState,
    StopOnNonFinite,
    TrainingDiverged,
    ValidationSchedule,
)
from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.config_checks import check_dates, check_runtime
from sitsfusion.data import modules
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.readers import is_synthetic as _is_synthetic
from sitsfusion.io import read_json
from sitsfusion.losses import inverse_frequency_weights
from sitsfusion.outputs import (
    LOCK,
    MARK,
    check_output_folder,
    clear_folder,
    folder_lock,
    mark_complete,
    prepare_output_folder,
)
from sitsfusion.runs import (
    RUN_FILE,
    ReportStamp,
    RunFolderError,
    check_report_folder,
    is_run_folder,
    now,
    resume_differences,
    run_folder,
    run_folder_of,
    write_report_stamp,
    write_run_file,
)
from sitsfusion.tasks.base import SupervisedTask, check_same_architecture, load_task, task_class

__all__ = [
    "EpochLogLine",
    "RunResult",
    "build_task",
    "datamodule",
    "evaluate",
    "fit",
    "is_synthetic",
]

SPLITS = ("val", "test")

# Lightning's advice about DataLoader workers is noise on a 2-core machine, and its
# advertisements for cloud services are noise everywhere.
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*is smaller than the logging interval.*")
warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
warnings.filterwarnings("ignore", ".*Experiment logs directory .* exists and is not empty.*")
warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())


@dataclass
class RunResult:
    """What a run produced: its folder, best checkpoint, test scores and test report folder."""

    out_dir: Path
    checkpoint: Path | None
    scores: dict[str, Any]
    report_dir: Path | None = None
    resumed: str | None = None
    """None for a run trained here from its start; "finished" for a run found finished."""


def datamodule(cfg: ExperimentConfig) -> SITSDataModule:
    """The data module of ``cfg.data.format`` (its task decides parcel or patch samples)."""
    return modules.datamodule(cfg.data, seed=cfg.train.seed, target=cfg.task)


def build_task(cfg: ExperimentConfig, dm: SITSDataModule) -> SupervisedTask:
    """The task for ``cfg`` on the data of ``dm`` (set up), with a clear error on mismatch."""
    dm.setup()
    missing = [m for m in cfg.data.modalities if m not in dm.channels]
    if missing:
        raise ConfigError(f"data.modalities: the dataset has no {missing}")
    weights = None
    if cfg.train.loss == "weighted_cross_entropy":
        weights = inverse_frequency_weights(
            dm.train_label_counts, ignore_index=cfg.model.ignore_index
        ).tolist()
    cls = task_class(cfg.task)
    return cls(cfg.to_dict(), dict(dm.channels), dm.class_names, weights)


def inference_device(
    cfg: ExperimentConfig, device: str | torch.device | None = None
) -> torch.device:
    """The ``torch.device`` a model runs on outside training: ``device`` when given, else the
    config's ``train.accelerator`` (``gpu`` / ``cuda``: CUDA; ``mps``; ``auto``: CUDA when
    available; else the CPU)."""
    if device is not None:
        return torch.device(device)
    accelerator = cfg.train.accelerator
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("mps" if accelerator == "mps" else "cpu")


def _interactive() -> bool:
    """True when stdout is a terminal (progress bars), False for a log file or a pipe."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _loggers(out_dir: Path) -> list[Any]:
    """CSV always (``metrics.csv``); TensorBoard too when ``tensorboard`` is installed."""
    loggers: list[Any] = [CSVLogger(out_dir, name="", version="")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out_dir, name="tensorboard", version=""))
    return loggers


def _trainer(
    cfg: ExperimentConfig, out_dir: Path, callbacks: list[Any], log: bool = True
) -> L.Trainer:
    """A Trainer for ``cfg``: a progress bar on a terminal, else one :class:`EpochLogLine`
    per epoch when training (``log``)."""
    interactive = _interactive()
    if log and not interactive:
        callbacks = [*callbacks, EpochLogLine()]
    return L.Trainer(
        max_epochs=cfg.train.epochs,
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices,
        precision=cfg.train.precision,
        logger=_loggers(out_dir) if log else False,
        callbacks=callbacks,
        log_every_n_steps=cfg.train.log_every_n_steps,
        **(
            {}
            if cfg.train.limit_train_batches == 1.0
            else {"limit_train_batches": cfg.train.limit_train_batches}
        ),
        deterministic=False,
        enable_model_summary=False,
        enable_progress_bar=interactive,
        default_root_dir=out_dir,
        plugins=[AtomicCheckpointIO()],
    )


class _Plan(NamedTuple):
    """What :func:`fit` does in its run folder: start a new run, continue one (from ``last``,
    the checkpoint of its last finished epoch, or straight to the test when training had
    ended) or nothing (the run had finished)."""

    action: str  # "new" | "continue" | "test" | "finished"
    last: Path | None = None
    record: dict[str, Any] | None = None


def _plan(out: Path, cfg: ExperimentConfig, resume: bool) -> _Plan:
    """Look at the run folder ``out`` (locked, checked by :func:`output_folder`; cleared
    already for ``--overwrite``): refuse a run to continue without ``resume``, or with another
    config, and say what to do."""
    if not is_run_folder(out):  # new, or prepared by a process killed before it trained
        if any(p.name not in (MARK, LOCK) for p in out.iterdir()):
            clear_folder(out)
        return _Plan("new")
    record = read_json(out / RUN_FILE)
    status = record.get("status", "finished" if record.get("finished") else "training")
    if not resume:
        raise FileExistsError(
            f"{out}: holds a run ({status}); pass --resume to continue it, --overwrite to "
            "start again, or choose another --out"
        )
    keys = resume_differences(record["config"], cfg.to_dict())
    if keys:
        raise RunFolderError(
            f"{out}: holds a run of another config (differs in {', '.join(keys[:4])}"
            f"{', ...' if len(keys) > 4 else ''}); --resume continues a run with the same "
            "arguments"
        )
    if status == "diverged":
        raise TrainingDiverged(
            f"{out}: this run stopped because training diverged ({record.get('error', '')}); "
            "resuming it would diverge again: change train.lr and pass --overwrite"
        )
    if status == "finished":
        return _Plan("finished", record=record)
    if status == "testing":
        return _Plan("test", record=record)
    last = out / "checkpoints" / LAST_CHECKPOINT
    if not last.is_file():  # killed before its first epoch ended: nothing to keep
        clear_folder(out)
        return _Plan("new")
    return _Plan("continue", last, record)


RUN_KIND = "run"
"""The kind of output a run folder is (:data:`sitsfusion.outputs.MARK`)."""
LAST_CHECKPOINT = "last.ckpt"
"""The checkpoint of the last finished epoch, rewritten (atomically) after every epoch."""


def _keep_logged_epochs(out: Path, epoch: int) -> list[dict[str, str]]:
    """The rows of ``<out>/metrics.csv`` of epochs up to ``epoch`` (0-based), the ones the
    last checkpoint covers (a killed run may have logged steps of the epoch it did not
    finish; those are run again)."""
    path = out / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if r.get("epoch") and float(r["epoch"]) <= epoch]


def fit(
    cfg: ExperimentConfig,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train, keep the best checkpoint by ``cfg.train.monitor``, test it, write the report.

    The run folder (default ``<train.out_dir>/<task>/<name>``) receives ``run.json``,
    ``checkpoints/best.ckpt``, ``checkpoints/last.ckpt`` (the last finished epoch: weights,
    optimizer, scheduler, early stopping, random generators; rewritten atomically every
    epoch), ``metrics.csv`` and the test report in ``test/``.

    Args:
        cfg: the experiment.
        out_dir: the run folder, if not the default.
        overwrite: delete an earlier run in the folder first (never a folder that is not a run
            folder written by ``fit``).
        resume: continue the run in the folder, from its last finished epoch, with the same
            config (only :data:`~sitsfusion.runs.RESUME_FREE_KEYS` may differ); a finished run
            is returned as it is, an empty folder starts a new run. Without ``resume`` or
            ``overwrite`` a folder holding a run is refused.
        callbacks: more Lightning callbacks for the trainer.

    Raises:
        TrainingDiverged: the loss or the weights became non-finite (``run.json`` says so).
    """
    check_runtime(cfg)  # the accelerator is here: before any data is read
    check_dates(cfg)  # the series' lengths fit the model (metadata only)
    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other: start again or continue")
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    out = Path(out_dir) if out_dir is not None else run_folder(cfg)
    claim: dict[str, Any] = {
        "kind": RUN_KIND,
        "overwrite": overwrite,
        "inputs": cfg.data.inputs(),
        "owned": is_run_folder,
        "reuse": not overwrite,  # a run folder is kept for _plan: resumed or refused there
    }
    check_output_folder(out, **claim)  # refusals before anything is written
    with folder_lock(out):
        prepare = functools.partial(
            prepare_output_folder, out, **claim, locked=True, command=f"fit {cfg.name}"
        )
        if overwrite:
            prepare()  # clears the earlier run
        plan = _plan(out, cfg, resume)
        if plan.action == "finished":  # nothing to do, nothing written
            return _finished_result(out, plan.record or {})
        if not overwrite:
            prepare()  # marked incomplete while it runs
        result = _fit_in(cfg, out, plan, list(callbacks))
        mark_complete(out)
    return result


def _fit_in(cfg: ExperimentConfig, out: Path, plan: _Plan, callbacks: list[Callback]) -> RunResult:
    """:func:`fit` in the locked run folder ``out``, as ``plan`` says."""
    started = (plan.record or {}).get("started") or now()
    dm = datamodule(cfg)
    task = build_task(cfg, dm)
    if plan.action != "test":
        best = _train(cfg, out, dm, task, started, plan.last, callbacks)
    else:
        best = out / "checkpoints" / "best.ckpt"
        shutil.rmtree(out / "test", ignore_errors=True)  # a report the killed run began
    record = read_json(out / RUN_FILE)
    report = out / "test" if best else None
    scores = evaluate(cfg, best, report, dm=dm) if best else {}
    kept = {k: v for k, v in record.items() if k not in ("name", "task", "sitsfusion", "config")}
    write_run_file(out, cfg, **(kept | {"status": "finished", "finished": now()}))
    return RunResult(out, best, scores, report)


def _train(
    cfg: ExperimentConfig,
    out: Path,
    dm: SITSDataModule,
    task: SupervisedTask,
    started: str,
    last: Path | None,
    extra: list[Callback],
) -> Path | None:
    """Lightning's fit in ``out`` (from the ``last`` checkpoint, if given); returns the best
    checkpoint, and leaves ``run.json`` with status "testing" (or "diverged", raising)."""
    mode = "min" if cfg.train.monitor.endswith("loss") else "max"
    checkpoint = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=cfg.train.monitor,
        mode=mode,
        save_top_k=1,
        save_on_train_epoch_end=False,  # at each validation (not every epoch: val_every)
    )
    latest = ModelCheckpoint(  # no monitor: the latest epoch, replacing the one before
        dirpath=out / "checkpoints",
        filename=Path(LAST_CHECKPOINT).stem,
        save_top_k=1,
        save_on_train_epoch_end=True,  # every epoch, validated or not: what a resume needs
    )
    schedule = ValidationSchedule(cfg.train.val_every, cfg.train.val_after)
    callbacks: list[Any] = [StopOnNonFinite(), RNGState(), schedule, *extra, checkpoint, latest]
    if cfg.train.early_stopping_patience is not None:  # seed 003: patience 20
        callbacks.append(
            EarlyStopping(
                monitor=cfg.train.monitor,
                mode=mode,
                patience=cfg.train.early_stopping_patience,  # in validations
                check_on_train_epoch_end=False,
            )
        )
    epoch = None if last is None else _epoch_of(last)  # the last finished epoch, 0-based
    kept = [] if epoch is None else _keep_logged_epochs(out, epoch)
    trainer = _trainer(cfg, out, callbacks)
    for logger in trainer.loggers:  # the loggers start in the run folder ...
        _ = logger.experiment
    if kept:  # ... (the CSV logger empties metrics.csv) with the rows of the epochs kept
        writer = trainer.loggers[0].experiment
        for row in kept:
            values = {k: v for k, v in row.items() if v != "" and k != "step"}
            writer.log_metrics(values, step=int(row["step"]))
        writer.save()
    write_run_file(out, cfg, started=started, status="training")  # ... run.json marks it
    if epoch is not None:
        done = epoch + 1
        print(
            f"resuming {out}: {done} epochs done, continuing with epoch {done + 1}",
            file=sys.stderr,
            flush=True,
        )
    try:
        trainer.fit(task, datamodule=dm, ckpt_path=last, weights_only=True)
    except TrainingDiverged as exc:
        write_run_file(out, cfg, started=started, status="diverged", error=str(exc))
        raise
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    if best is not None and cfg.task == "panoptic":  # the reference tunes it on validation
        from sitsfusion.tasks.panoptic import tune_checkpoint

        tune_checkpoint(best, dm.val_dataloader())
    best_score = checkpoint.best_model_score
    write_run_file(
        out,
        cfg,
        started=started,
        status="testing",
        epochs=trainer.current_epoch,
        checkpoint=os.path.relpath(best, out) if best else None,
        monitor={cfg.train.monitor: None if best_score is None else float(best_score)},
    )
    return best


def _epoch_of(checkpoint: Path) -> int:
    """The (0-based) epoch a Lightning checkpoint was written after."""
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"])


def _finished_result(out: Path, record: dict[str, Any]) -> RunResult:
    """The :class:`RunResult` of a finished run, from its folder (nothing is run)."""
    best = out / record["checkpoint"] if record.get("checkpoint") else None
    report = out / "test" if best else None
    scores: dict[str, Any] = {}
    if report is not None and (report / "test_metrics.json").is_file():
        scores = read_json(report / "test_metrics.json")
    return RunResult(out, best, scores, report, resumed="finished")


def evaluate(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    report_dir: str | Path | None = None,
    split: str = "test",
    dm: SITSDataModule | None = None,
) -> dict[str, Any]:
    """Scores of ``checkpoint`` on the ``split`` ("val" or "test") set; writes the report.

    The report (``<split>_metrics.json``, ``<split>_per_class.csv``, ``<split>_confusion.png``,
    ... and the stamp ``<split>_report.json`` naming the checkpoint and config) goes to
    ``report_dir``, by default the checkpoint's run folder ``<run>/<split>/``.

    Raises:
        RunFolderError: no ``report_dir`` for a checkpoint outside a run folder, or a folder
            holding the report of another checkpoint or config (checked before scoring).
        CheckpointError: not a sitsfusion checkpoint, or another architecture than ``cfg``'s.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    check_runtime(cfg)
    task = load_task(checkpoint)
    folder = Path(report_dir) if report_dir is not None else run_folder_of(checkpoint) / split
    stamp = ReportStamp.of(split, checkpoint, cfg.to_dict())
    check_report_folder(folder, stamp)
    dm = dm or datamodule(cfg)
    check_same_architecture(build_task(cfg, dm), task, checkpoint)
    trainer = _trainer(cfg, folder, [], log=False)
    if split == "val":  # score the validation folds through the test loop
        trainer.test(task, dataloaders=dm.val_dataloader(), verbose=False)
    else:
        trainer.test(task, datamodule=dm, verbose=False)
    scores = task.test_scores or {}
    title = f"{cfg.name} — {split}"
    synthetic = is_synthetic(cfg.data.root)
    if synthetic:
        title += " (synthetic data)"
    # the stamp first, marked incomplete: a report cut short is recognised as this source's
    write_report_stamp(folder, stamp, [], title=title, synthetic=synthetic, complete=False)
    files = task.write_test_report(folder, title, prefix=split)
    write_report_stamp(folder, stamp, files, title=title, synthetic=synthetic, complete=True)
    return scores


def is_synthetic(root: str | Path) -> bool:
    """True for a dataset written by sitsfusion's simulator: the detected format's reader
    says so from the metadata (:func:`sitsfusion.data.readers.is_synthetic`)."""
    return _is_synthetic(root)
