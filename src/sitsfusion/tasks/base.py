"""What every supervised task shares: a (fused) model, its loss, its metrics, checkpoints.

A task subclass says only what differs: how its model is built (:meth:`build_model`), where
its target is in a :class:`~sitsfusion.data.sample.Batch` (:meth:`target`) and which class is
ignored; setting ``task_name`` registers it for :func:`task_class` (the base imports none of
the subclasses: :mod:`sitsfusion.tasks` imports them). Training follows the papers: Adam
(lr 1e-3), auxiliary losses with weight λ per modality when enabled (seed 001 Sec. 3.2), best
checkpoint by validation mIoU.
"""

from __future__ import annotations

import math
import stat
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch import Tensor

from sitsfusion.config import ConfigError, ExperimentConfig, _build
from sitsfusion.config_checks import check_ranges
from sitsfusion.data.sample import Batch
from sitsfusion.losses import build_loss
from sitsfusion.metrics import ClassificationMetrics, plot_confusion_matrix, write_metrics
from sitsfusion.models.fusion import FusionOutput, auxiliary_loss

__all__ = [
    "CheckpointError",
    "SupervisedTask",
    "check_same_architecture",
    "check_same_dataset",
    "config_from_dict",
    "load_task",
    "task_class",
]


class CheckpointError(ValueError):
    """A checkpoint cannot be used: not a file, not a sitsfusion checkpoint, non-finite weights,
    a tampered stored config, or trained for another architecture or dataset than the one it
    is loaded for. The message is one line starting with the checkpoint's path."""


#: the hyper-parameters a sitsfusion checkpoint stores (SupervisedTask's arguments)
HYPER_PARAMETERS = ("config", "channels", "class_names", "class_weights")
#: the sections a stored config must hold (a checkpoint stores the whole resolved config)
STORED_SECTIONS = ("task", "data", "model", "train")


# the task registry: {task_name: subclass}, filled by SupervisedTask.__init_subclass__
_TASKS: dict[str, type[SupervisedTask]] = {}


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def config_from_dict(tree: dict[str, Any]) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of a plain dict (as stored in checkpoints), its keys, types
    and single values checked (:func:`~sitsfusion.config_checks.check_ranges`).

    Raises:
        ConfigError: an unknown key, a mistyped or out-of-range value.
    """
    cfg = _build(ExperimentConfig, tree, "")
    check_ranges(cfg)
    return cfg


class SupervisedTask(L.LightningModule):
    """Model + loss + metrics.

    A subclass defines ``task_name`` (the config's ``task``), ``build_model(channels) ->
    nn.Module`` (a fusion module returning a ``FusionOutput``) and ``target(batch) -> Tensor``.
    Defining a subclass with a ``task_name`` of its own registers it (:func:`task_class`); a
    subclass that inherits its parent's ``task_name`` does not replace the parent.

    Args:
        config: the experiment config as a plain dict (``ExperimentConfig.to_dict()``), stored
            in checkpoints so that a checkpoint rebuilds its own model.
        channels: ``{modality: C}`` in the order the model consumes them.
        class_names: the K class names.
        class_weights: optional ``[K]`` loss weights (``train.loss: weighted_cross_entropy``).
    """

    task_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("task_name")
        if not name:
            return
        existing = _TASKS.get(name)
        if existing is not None and _qualified_name(existing) != _qualified_name(cls):
            raise TypeError(
                f"{_qualified_name(cls)}: task {name!r} is already registered by "
                f"{_qualified_name(existing)}; choose another task_name"
            )
        _TASKS[name] = cls

    def __init__(
        self,
        config: dict[str, Any],
        channels: dict[str, int],
        class_names: list[str],
        class_weights: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = config_from_dict(config)
        k = self.cfg.model.num_classes
        if k != len(class_names):
            raise ConfigError(
                f"model.num_classes is {k} but the dataset has {len(class_names)} classes "
                f"({', '.join(class_names[:5])}, ...); set model.num_classes: {len(class_names)}"
            )
        self.model = self.build_model(channels)
        train = self.cfg.train
        weights = None if class_weights is None else torch.tensor(class_weights)
        ignore = self.cfg.model.ignore_index
        loss = "focal" if train.loss == "cross_entropy" and ignore is not None else train.loss
        gamma = 0.0 if loss != train.loss else train.focal_gamma  # focal γ=0 = CE, NaN-safe
        self.criterion = build_loss(
            loss, num_classes=k, class_weights=weights, ignore_index=ignore, gamma=gamma
        )
        self.val_metrics = ClassificationMetrics(k, ignore_index=ignore, class_names=class_names)
        self.test_metrics = ClassificationMetrics(k, ignore_index=ignore, class_names=class_names)
        self.test_scores: dict[str, Any] | None = None

    # ---- forward and loss ----------------------------------------------------------------

    def forward(self, batch: Batch) -> FusionOutput:
        return self.model(batch)

    def _loss(self, out: FusionOutput, target: Tensor) -> tuple[Tensor, Tensor]:
        objective = self.criterion(out.logits, target)
        loss = objective
        if self.cfg.model.auxiliary > 0 and out.aux:
            loss = loss + auxiliary_loss(out, target, self.criterion, self.cfg.model.auxiliary)
        return loss, objective

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        out = self(batch)
        loss, objective = self._loss(out, self.target(batch))
        n = len(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=n)
        self.log("train_objective", objective, batch_size=n)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        out = self(batch)
        target = self.target(batch)
        loss, _ = self._loss(out, target)
        self.log("val_loss", loss, prog_bar=True, batch_size=len(batch))
        self.val_metrics.update(out.logits, target)

    def on_validation_epoch_end(self) -> None:
        scores = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log("val_miou", scores["miou"], prog_bar=True)
        self.log("val_oa", scores["overall_accuracy"])
        self.log("val_macro_f1", scores["macro_f1"])

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        out = self(batch)
        self.test_metrics.update(out.logits, self.target(batch))

    def on_test_epoch_end(self) -> None:
        scores = self.test_metrics.compute()
        self.test_metrics.reset()
        self.test_scores = scores
        self.log("test_miou", scores["miou"])
        self.log("test_oa", scores["overall_accuracy"])
        self.log("test_macro_f1", scores["macro_f1"])
        self.log("test_kappa", scores["kappa"])

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self(batch).logits.softmax(dim=1)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.cfg.train.lr)
        train = self.cfg.train
        if train.scheduler == "plateau":  # seed 003 configs: ReduceLROnPlateau on val loss
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=train.plateau_factor, patience=train.plateau_patience
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
            }
        if train.scheduler == "multistep":  # seed 001 panoptic: 0.01, then 0.001 after 50
            steps = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, milestones=list(train.milestones), gamma=train.step_gamma
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": steps}}
        if train.scheduler == "step":  # seed 004 Sec. VI-B: x0.1 every 5 epochs
            step = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=train.step_size, gamma=train.step_gamma
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": step}}
        return optimizer

    def write_test_report(
        self, out_dir: str | Path, title: str, prefix: str = "test"
    ) -> list[Path]:
        """Write the last test-loop scores: ``<prefix>_metrics.json``, ``<prefix>_per_class.csv``,
        ``<prefix>_confusion.csv`` and the confusion figures; ``prefix`` names the scored split
        ("test", or "val" when the validation set went through the test loop)."""
        from sitsfusion.plots import save_figure

        if self.test_scores is None:
            raise RuntimeError("run a test epoch first")
        out_dir = Path(out_dir)
        paths = write_metrics(self.test_scores, out_dir, prefix=prefix)
        # rows sum to 1 (recall), and columns sum to 1 (precision: seed 004's figures, Sec. VI)
        for normalize, suffix in (("true", "confusion"), ("pred", "confusion_pred")):
            fig = plot_confusion_matrix(
                self.test_scores["confusion_matrix"],
                self.test_scores["class_names"],
                normalize=normalize,
                title=title,
            )
            paths.append(save_figure(fig, out_dir / f"{prefix}_{suffix}.png"))
        return paths


def task_class(name: str) -> type[SupervisedTask]:
    """The registered task whose ``task_name`` is ``name`` (the config's ``task``).

    The built-in tasks are registered once :mod:`sitsfusion.tasks` is imported (importing
    ``sitsfusion.tasks.base`` imports it first).

    Raises:
        CheckpointError: no task of that name.
    """
    if name not in _TASKS:
        raise CheckpointError(f"unknown task {name!r}; known: {sorted(_TASKS)}")
    return _TASKS[name]


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short line: its type, and its message's first sentence (or the
    name of a refused pickle global)."""
    text = " ".join(str(exc).split())
    if "Unsupported global" in text:  # torch's weights-only unpickler refusing a class
        text = text[text.index("Unsupported global") :]
    text = text.split(". ")[0]
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_checkpoint(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """The dict stored in the checkpoint ``path``, loaded with ``weights_only=True``; ``stat``
    before ``open`` (a named pipe or a device must not block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: checkpoint cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file (.ckpt)")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: not a regular file (a pipe or a device), expected a .ckpt")
    if info.st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint that loads safely (truncated, corrupted or "
            f"another kind of file; {_one_line(exc)})"
        ) from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "config" not in hp or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path}: not a sitsfusion checkpoint (no hyper_parameters.config or state_dict)"
        )
    return ckpt


def _check_hyper_parameters(path: Path, hp: dict[str, Any]) -> None:
    """The stored task arguments are those sitsfusion writes, well typed."""
    extra = sorted(str(k) for k in hp if k not in HYPER_PARAMETERS)
    missing = [k for k in HYPER_PARAMETERS[:3] if k not in hp]
    if extra or missing:
        raise CheckpointError(
            f"{path}: hyper_parameters: unknown {extra}, missing {missing}; expected "
            f"{list(HYPER_PARAMETERS)}"
        )
    channels, names, weights = hp["channels"], hp["class_names"], hp.get("class_weights")
    if (
        not isinstance(channels, dict)
        or not channels
        or not all(isinstance(m, str) and type(c) is int and c >= 1 for m, c in channels.items())
    ):
        raise CheckpointError(
            f"{path}: hyper_parameters.channels: expected {{modality: channels >= 1}}, "
            f"got {channels!r}"
        )
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(
            f"{path}: hyper_parameters.class_names: expected a list of names, got {names!r}"
        )
    if weights is not None and (
        not isinstance(weights, list)
        or len(weights) != len(names)
        or not all(isinstance(w, int | float) and math.isfinite(w) for w in weights)
    ):
        raise CheckpointError(
            f"{path}: hyper_parameters.class_weights: expected {len(names)} finite numbers or null"
        )
    config = hp["config"]
    absent = [k for k in STORED_SECTIONS if not isinstance(config, dict) or k not in config]
    if absent:
        raise CheckpointError(f"{path}: its stored config lacks {absent}")
    try:
        config_from_dict(config)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config: {exc}") from None


def _check_finite_weights(path: Path, state: Any) -> None:
    """Every entry of the state dict is a tensor, and a floating one is finite."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: state_dict: expected a mapping of tensors")
    for name, value in state.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{path}: state_dict[{name!r}] is not a tensor")
        if value.is_floating_point() or value.is_complex():
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise CheckpointError(
                    f"{path}: weights {name!r} hold {bad} NaN or infinite value(s) of "
                    f"{value.numel()}; the training diverged or the file is corrupted"
                )


def load_task(path: str | Path, map_location: str | torch.device = "cpu") -> SupervisedTask:
    """Rebuild a task from a checkpoint, loaded with ``torch.load(weights_only=True)``.

    Checked before any weight is used: a regular, non-empty file (``stat`` before ``open``);
    the hyper-parameters sitsfusion stores, well typed; the stored config (every section,
    known keys, types, valid values); finite weights; weights that fit the architecture the
    stored config describes.

    Raises:
        CheckpointError: one line naming ``path`` and the problem.
    """
    path = Path(path)
    ckpt = _read_checkpoint(path, map_location)
    hp = ckpt["hyper_parameters"]
    _check_hyper_parameters(path, hp)
    got = ckpt["state_dict"]
    _check_finite_weights(path, got)
    try:
        task = task_class(hp["config"]["task"])(**hp)
    except Exception as exc:  # a tampered config may fail anywhere in a model's constructor
        raise CheckpointError(
            f"{path}: its stored config does not build a model ({_one_line(exc)})"
        ) from None
    expected = task.state_dict()
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [k for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path}: weights do not fit the architecture in its config "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, shape mismatch {shapes[:3]})"
        )
    task.load_state_dict(got)
    return task


def _describe(task: SupervisedTask) -> str:
    return (
        f"{task.cfg.task}, fusion {task.cfg.model.fusion!r}, modalities "
        f"{list(task.hparams['channels'])}"
    )


def check_same_dataset(
    loaded: SupervisedTask, channels: dict[str, int], class_names: list[str], path: str | Path
) -> None:
    """Raise :class:`CheckpointError` when the task ``loaded`` from ``path`` was trained on
    another dataset than the one read: other channels per modality, or other classes (names
    or number), both sides named."""
    trained = dict(loaded.hparams["channels"])
    shared = [m for m in trained if m in channels]
    if any(trained[m] != channels[m] for m in shared):
        raise CheckpointError(
            f"{path}: trained on another dataset: channels per modality {trained}, the "
            f"dataset has {dict(channels)}"
        )
    names = list(loaded.hparams["class_names"])
    if names != list(class_names):
        raise CheckpointError(
            f"{path}: trained on another dataset: {len(names)} classes "
            f"{_names(names, class_names)}, the dataset has {len(class_names)} "
            f"{_names(list(class_names), names)}"
        )


def check_same_architecture(
    expected: SupervisedTask, loaded: SupervisedTask, path: str | Path
) -> None:
    """Raise :class:`CheckpointError` when the task ``loaded`` from ``path`` is another
    architecture than ``expected`` (the one the config asks for, on the dataset read), or was
    trained on another dataset (:func:`check_same_dataset`)."""
    other = CheckpointError(
        f"{path}: trained with another architecture ({_describe(loaded)}) than the config "
        f"asks for ({_describe(expected)})"
    )
    if type(loaded) is not type(expected) or list(loaded.hparams["channels"]) != list(
        expected.hparams["channels"]
    ):
        raise other
    check_same_dataset(
        loaded, dict(expected.hparams["channels"]), list(expected.hparams["class_names"]), path
    )
    a, b = expected.state_dict(), loaded.state_dict()
    if set(a) != set(b) or any(a[k].shape != b[k].shape for k in a):
        raise other


def _names(names: list[str], other: list[str], shown: int = 4) -> str:
    """A few of ``names``, those not in ``other`` first: ``(Wheat, Maize, ...)``."""
    first = [n for n in names if n not in other] + [n for n in names if n in other]
    more = ", ..." if len(names) > shown else ""
    return f"({', '.join(first[:shown])}{more})"
