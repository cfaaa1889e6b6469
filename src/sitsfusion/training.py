"""Fit / validate / test an experiment config with Lightning (used by the CLI and the demo)."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.data import modules
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.readers import is_synthetic as _is_synthetic
from sitsfusion.losses import inverse_frequency_weights
from sitsfusion.tasks.base import SupervisedTask, check_same_architecture, load_task, task_class

__all__ = ["RunResult", "build_task", "datamodule", "evaluate", "fit", "is_synthetic"]

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
    """What a run produced: its folder, best checkpoint and test scores."""

    out_dir: Path
    checkpoint: Path | None
    scores: dict[str, Any]


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
        default_root_dir=out_dir,
    )


def fit(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, overwrite: bool = False
) -> RunResult:
    """Train, keep the best checkpoint by ``cfg.train.monitor``, test it, write the report.

    The run folder (default ``train.out_dir / name``) must not hold an earlier run unless
    ``overwrite`` is set (then that run is deleted first).
    """
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    out = Path(out_dir or Path(cfg.train.out_dir) / cfg.name)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out}: a run folder already exists; choose another --out or pass --overwrite"
            )
        shutil.rmtree(out)
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
    trainer.fit(task, datamodule=dm)
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    if best is not None and cfg.task == "panoptic":  # the reference tunes it on validation
        from sitsfusion.tasks.panoptic import tune_checkpoint

        tune_checkpoint(best, dm.val_dataloader())
    scores = evaluate(cfg, best, out, dm=dm) if best else {}
    return RunResult(out, best, scores)


def evaluate(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    out_dir: str | Path,
    split: str = "test",
    dm: SITSDataModule | None = None,
) -> dict[str, Any]:
    """Scores of ``checkpoint`` on the ``split`` ("val" or "test") set; writes the report."""
    out = Path(out_dir)
    dm = dm or datamodule(cfg)
    task = load_task(checkpoint)
    check_same_architecture(build_task(cfg, dm), task, checkpoint)
    trainer = _trainer(cfg, out, [], log=False)
    if split == "val":  # score the validation folds through the test loop
        loader = dm.val_dataloader()
        trainer.test(task, dataloaders=loader, verbose=False)
    else:
        trainer.test(task, datamodule=dm, verbose=False)
    scores = task.test_scores or {}
    title = f"{cfg.name} — {split}"
    if is_synthetic(cfg.data.root):
        title += " (synthetic data)"
    report_dir = out / split
    task.write_test_report(report_dir, title)
    (report_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    return scores


def is_synthetic(root: str | Path) -> bool:
    """True for a dataset written by sitsfusion's simulator: the detected format's reader
    says so from the metadata (:func:`sitsfusion.data.readers.is_synthetic`)."""
    return _is_synthetic(root)
