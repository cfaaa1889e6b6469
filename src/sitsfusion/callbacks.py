"""Lightning callbacks and the checkpoint plug-in of ``sitsfusion fit``.

- :class:`EpochLogLine`: one line per epoch when output is not a terminal (a log file).
- :class:`ValidationSchedule`: validation every ``every`` epochs after epoch ``after`` (and
  at the last epoch), as the reference's panoptic training.
- :class:`RNGState`: the random generators' states in every checkpoint, restored on resume, so
  a resumed run draws the same batches, augmentations and dropout masks as an uninterrupted one.
- :class:`StopOnNonFinite`: a diverging run stops with :class:`TrainingDiverged` at the first
  non-finite training loss, or non-finite weights at the end of an epoch, before a checkpoint
  of that state is written.
- :class:`AtomicCheckpointIO`: every checkpoint (``best``, ``last``) is written to a
  temporary file beside its path and renamed over it, so a killed process never leaves half a
  checkpoint.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from sitsfusion.io import atomic_path

__all__ = [
    "AtomicCheckpointIO",
    "EpochLogLine",
    "RNGState",
    "StopOnNonFinite",
    "TrainingDiverged",
    "ValidationSchedule",
]


class TrainingDiverged(ValueError):
    """The training loss or the weights became NaN / inf: the run stopped."""


class EpochLogLine(Callback):
    """One line per training epoch, flushed, for output that is not a terminal.

    ``epoch 3/15  train_loss 1.2345  val_loss 1.1000  val_miou 0.4120 ...  2.1 s``: the epoch,
    the mean training loss over its batches, every ``val_*`` metric of the epoch's validation
    (none on an epoch without one, :class:`ValidationSchedule`) and the epoch's wall time.
    Written to ``stream`` (default: the current ``sys.stdout``) by the global-zero process
    only.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._start = 0.0
        self._loss_sum: Any = 0.0
        self._batches = 0
        self._validated = False

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._loss_sum, self._batches = 0.0, 0
        self._validated = False

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validated = not trainer.sanity_checking

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = _loss_of(outputs)
        if loss is not None:
            self._loss_sum = self._loss_sum + loss.detach()  # no device sync per step
            self._batches += 1

    def line(self, trainer: L.Trainer) -> str:
        """The line of the epoch that just ended."""
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        if self._batches:
            parts.append(f"train_loss {float(self._loss_sum) / self._batches:.4f}")
        metrics = trainer.callback_metrics if self._validated else {}
        parts += [f"{k} {float(metrics[k]):.4f}" for k in sorted(metrics) if k.startswith("val_")]
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        return "  ".join(parts)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook: its metrics are current.
        if trainer.is_global_zero and not trainer.sanity_checking:
            stream = self.stream or sys.stdout
            print(self.line(trainer), file=stream, flush=True)


def _loss_of(outputs: Any) -> torch.Tensor | None:
    return outputs.get("loss") if isinstance(outputs, Mapping) else outputs


class ValidationSchedule(Callback):
    """Validation only at the epochs ``e`` (1-based) after ``after`` that are multiples of
    ``every``, and at the last epoch (so that a best checkpoint exists): the reference's
    panoptic training validates every 5 epochs after epoch 65 (``utae-paps``
    ``train_panoptic.py``). It sets Lightning's ``check_val_every_n_epoch`` before each
    epoch; the best checkpoint is chosen among the validated epochs."""

    def __init__(self, every: int = 1, after: int = 0) -> None:
        if every < 1 or after < 0:
            raise ValueError(f"every >= 1 and after >= 0 expected, got {every} and {after}")
        self.every, self.after = every, after

    def validates(self, epoch: int, last: int) -> bool:
        """Whether the 1-based ``epoch`` of a run of ``last`` epochs is validated."""
        return epoch == last or (epoch > self.after and epoch % self.every == 0)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch, last = trainer.current_epoch + 1, int(trainer.max_epochs or 0)
        # Lightning validates when (current_epoch + 1) % check_val_every_n_epoch == 0
        trainer.check_val_every_n_epoch = epoch if self.validates(epoch, last) else epoch + 1


class RNGState(Callback):
    """Saves the states of the random generators that training draws from (torch on the CPU
    and every CUDA device, NumPy, Python's ``random``) into each checkpoint, and restores them
    when training resumes from one.

    Lightning restores weights, optimizer, scheduler, loops and the callbacks' states but not
    the generators: without them a resumed run would shuffle, augment and drop out differently
    from the uninterrupted run. The states are stored as tensors and lists (loadable with
    ``torch.load(weights_only=True)``). The state is restored when Lightning restores the
    callbacks, before the training dataloader draws its first order (the sanity check between
    the two runs on isolated generators).
    """

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the global one)
        version, internal, gauss_next = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {
                "kind": str(kind),
                "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "gauss": float(gauss),
            },
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        cuda = state_dict.get("cuda") or []
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        n = state_dict["numpy"]
        keys = n["keys"].numpy().astype(np.uint32)
        np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))  # noqa: NPY002
        p = state_dict["python"]
        random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


class StopOnNonFinite(Callback):
    """Stops training with :class:`TrainingDiverged` at the first non-finite training loss
    (checked every batch) or non-finite weights (checked when an epoch's validation ends,
    before any checkpoint of that epoch is written — checkpoint callbacks run after the
    others). The message names the epoch, the batch or the parameter, and what to try."""

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = _loss_of(outputs)
        if loss is not None and not torch.isfinite(loss.detach()).all():
            value = float(loss.detach().float().mean())
            raise TrainingDiverged(
                f"training diverged: the loss is {value} at epoch {trainer.current_epoch + 1}, "
                f"batch {batch_idx + 1}; the run stopped (try a lower train.lr, check the input "
                "data for extreme values)"
            )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for name, param in pl_module.named_parameters():
            bad = int((~torch.isfinite(param.detach())).sum())
            if bad:
                raise TrainingDiverged(
                    f"training diverged: {bad} non-finite values in the weights {name} after "
                    f"epoch {trainer.current_epoch + 1}; the run stopped (try a lower train.lr)"
                )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing each checkpoint to a temporary file in its folder
    and renaming it over the path: a reader (or a resumed run) sees the previous checkpoint or
    the new one, never half of one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)
