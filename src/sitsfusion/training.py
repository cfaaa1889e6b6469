"""Fit / validate / test an experiment config with Lightning (used by the CLI and the demo).

Runs land in run folders (:mod:`sitsfusion.runs`): ``fit`` writes ``<train.out_dir>/<task>/
<name>`` by default; :func:`evaluate` writes a checkpoint's report into its run folder
(``test/``, ``val/``) or a folder of the caller's choice, never over another run's report.
On a terminal, Lightning's progress bar shows the training; otherwise (a log file, a pipe)
:class:`EpochLogLine` prints one line per epoch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.data import modules
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.readers import is_synthetic as _is_synthetic
from sitsfusion.losses import inverse_frequency_weights
from sitsfusion.runs import (
    ReportStamp,
    check_report_folder,
    is_run_folder,
    now,
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


def _interactive() -> bool:
    """True when stdout is a terminal (progress bars), False for a log file or a pipe."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


class EpochLogLine(Callback):
    """One line per training epoch, flushed, for output that is not a terminal.

    ``epoch 3/15  train_loss 1.2345  val_loss 1.1000  val_miou 0.4120 ...  2.1 s``: the epoch,
    the mean training loss over its batches, every ``val_*`` metric Lightning holds (the
    validation of that epoch) and the epoch's wall time. Written to ``stream`` (default: the
    current ``sys.stdout``) by the global-zero process only.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._start = 0.0
        self._loss_sum: Any = 0.0
        self._batches = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._loss_sum, self._batches = 0.0, 0

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None:
            self._loss_sum = self._loss_sum + loss.detach()  # no device sync per step
            self._batches += 1

    def line(self, trainer: L.Trainer) -> str:
        """The line of the epoch that just ended."""
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        if self._batches:
            parts.append(f"train_loss {float(self._loss_sum) / self._batches:.4f}")
        metrics = trainer.callback_metrics
        parts += [f"{k} {float(metrics[k]):.4f}" for k in sorted(metrics) if k.startswith("val_")]
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        return "  ".join(parts)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook: its metrics are current.
        if trainer.is_global_zero and not trainer.sanity_checking:
            stream = self.stream or sys.stdout
            print(self.line(trainer), file=stream, flush=True)


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
    )


def _prepare_run_folder(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite``; then delete it only if it is a run
    folder (it holds ``run.json``): never a folder sitsfusion did not write."""
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"{out}: a run folder already exists; choose another --out or pass --overwrite"
        )
    if not is_run_folder(out):
        raise FileExistsError(
            f"{out}: not a sitsfusion run folder (no run.json), not deleting it; "
            "choose another --out"
        )
    shutil.rmtree(out)


def fit(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, overwrite: bool = False
) -> RunResult:
    """Train, keep the best checkpoint by ``cfg.train.monitor``, test it, write the report.

    The run folder (default ``<train.out_dir>/<task>/<name>``) must not hold an earlier run
    unless ``overwrite`` is set (then that run is deleted first; a non-empty folder that is not
    a run folder is never deleted). It receives ``run.json``, ``checkpoints/best.ckpt``,
    ``metrics.csv`` and the test report in ``test/``.
    """
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    out = Path(out_dir) if out_dir is not None else run_folder(cfg)
    _prepare_run_folder(out, overwrite)
    started = now()
    dm = datamodule(cfg)
    task = build_task(cfg, dm)
    checkpoint = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=cfg.train.monitor,
        mode="min" if cfg.train.monitor.endswith("loss") else "max",
        save_top_k=1,
    )
    callbacks: list[Any] = [checkpoint]
    if cfg.train.early_stopping_patience is not None:  # seed 003: patience 20
        callbacks.append(
            EarlyStopping(
                monitor=cfg.train.monitor,
                mode=checkpoint.mode,
                patience=cfg.train.early_stopping_patience,
            )
        )
    trainer = _trainer(cfg, out, callbacks)
    for logger in trainer.loggers:  # the loggers start in the new, empty folder ...
        _ = logger.experiment
    write_run_file(out, cfg, started=started)  # ... then run.json marks it as a run folder
    trainer.fit(task, datamodule=dm)
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    if best is not None and cfg.task == "panoptic":  # the reference tunes it on validation
        from sitsfusion.tasks.panoptic import tune_checkpoint

        tune_checkpoint(best, dm.val_dataloader())
    report = out / "test" if best else None
    scores = evaluate(cfg, best, report, dm=dm) if best else {}
    best_score = checkpoint.best_model_score
    write_run_file(
        out,
        cfg,
        started=started,
        finished=now(),
        epochs=trainer.current_epoch,
        checkpoint=os.path.relpath(best, out) if best else None,
        monitor={cfg.train.monitor: None if best_score is None else float(best_score)},
    )
    return RunResult(out, best, scores, report)


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
    files = task.write_test_report(folder, title, prefix=split)
    write_report_stamp(folder, stamp, files, title=title, synthetic=synthetic)
    return scores


def is_synthetic(root: str | Path) -> bool:
    """True for a dataset written by sitsfusion's simulator: the detected format's reader
    says so from the metadata (:func:`sitsfusion.data.readers.is_synthetic`)."""
    return _is_synthetic(root)
