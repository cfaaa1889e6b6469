"""The valid values of an experiment config, checked when it is loaded.

:mod:`sitsfusion.config` checks the keys and their types while it builds a config; this module
checks the values, with one-line :class:`~sitsfusion.config.ConfigError` messages naming the
dotted key, the value and what is expected:

* :data:`VALID`: the valid values of single keys (number ranges, choices, non-empty text),
  listed in docs/configuration.md next to each key's type;
* rules between keys: disjoint training / validation / test splits (a shared fold, tile, root
  or group would leak test samples into training), a monitor metric the task logs
  (:data:`MONITOR_METRICS`), a ``kfold`` fold below ``n_folds``, increasing milestones, ...;
* :func:`check_runtime`: what depends on the machine (the accelerator, the number of devices).
  Loading a config stays machine-independent; the commands that train or score call it;
* :func:`check_dates`: what depends on the dataset's series lengths (TempCNN's ``max_len``,
  the U-Net's stacked ``num_dates``, ``data.subsequence``), read cheaply from its metadata
  before training (PASTIS layout).

Floats are finite everywhere (NaN and ±inf are refused while types are checked).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitsfusion.errors import ConfigError, DatasetError, DataWarning

if TYPE_CHECKING:
    from sitsfusion.config import ExperimentConfig

__all__ = [
    "ACCELERATORS",
    "MONITOR_METRICS",
    "PRECISIONS",
    "VALID",
    "Choice",
    "Range",
    "check_dates",
    "check_ranges",
    "check_runtime",
    "check_values",
    "valid_text",
]

SEED_MAX = 2**32 - 1
"""Largest seed: NumPy and Lightning's ``seed_everything`` take seeds in [0, 2**32 - 1]
(Lightning silently replaces a seed outside it by 0)."""

MONITOR_METRICS: dict[str, tuple[str, ...]] = {
    "parcel": ("val_loss", "val_miou", "val_oa", "val_macro_f1"),
    "semantic": ("val_loss", "val_miou", "val_oa", "val_macro_f1"),
    "panoptic": ("val_pq", "val_sq", "val_rq", "val_miou"),
}
"""The validation metrics each task logs (sitsfusion.tasks: ``on_validation_epoch_end``), the
choices of ``train.monitor``."""

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
"""Lightning's accelerator names (its AcceleratorRegistry, plus ``auto`` and ``gpu``)."""

PRECISIONS = (
    "transformer-engine",
    "transformer-engine-float16",
    "16-true",
    "16-mixed",
    "bf16-true",
    "bf16-mixed",
    "32-true",
    "64-true",
    "64",
    "32",
    "16",
    "bf16",
)
"""Lightning's precision names (``_PRECISION_INPUT_STR`` and its aliases)."""


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (None: unbounded), each end closed unless ``open``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _number(x: float | None) -> str:
    """``x`` as written in a config: ``1``, ``0.5``, ``4294967295``."""
    return str(int(x)) if x is not None and float(x).is_integer() else f"{x}"


@dataclass(frozen=True)
class Choice:
    """One of ``values``."""

    values: tuple[Any, ...]

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)


@dataclass(frozen=True)
class NonEmpty:
    """A non-empty text."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value.strip() != ""

    def __str__(self) -> str:
        return "non-empty"


AT_LEAST_1 = Range(1)
AT_LEAST_0 = Range(0)
SHARE = Range(0, 1)
POSITIVE = Range(0, low_open=True)
SEED = Range(0, SEED_MAX)

VALID: dict[str, Range | Choice | NonEmpty] = {
    "name": NonEmpty(),
    "data.root": NonEmpty(),
    "data.train_folds": AT_LEAST_1,
    "data.val_folds": AT_LEAST_1,
    "data.test_folds": AT_LEAST_1,
    "data.n_pixels": AT_LEAST_1,
    "data.batch_size": AT_LEAST_1,
    "data.num_workers": AT_LEAST_0,
    "data.temporal_dropout": SHARE,
    "data.eval_drop": SHARE,
    "data.subsequence": AT_LEAST_1,
    "data.class_scheme": Choice((14, 10, 6)),  # seed 003, Table 3
    "data.split_seed": SEED,
    "data.split_fractions": SHARE,
    "data.n_folds": Range(3),  # a test and a validation fold, and at least one to train on
    "data.fold": AT_LEAST_0,
    "data.months": Range(1, 12),
    "model.num_classes": AT_LEAST_1,
    "model.auxiliary": AT_LEAST_0,
    "model.decoder": AT_LEAST_1,
    "model.head": AT_LEAST_1,
    "model.unet_widths": AT_LEAST_1,
    "train.lr": POSITIVE,
    "train.epochs": AT_LEAST_1,
    "train.focal_gamma": AT_LEAST_0,
    "train.monitor": NonEmpty(),
    "train.milestones": AT_LEAST_1,
    "train.plateau_factor": Range(0, 1, low_open=True, high_open=True),
    "train.plateau_patience": AT_LEAST_0,
    "train.step_size": AT_LEAST_1,
    "train.step_gamma": Range(0, 1, low_open=True),
    "train.early_stopping_patience": AT_LEAST_1,
    "train.warmup_epochs": AT_LEAST_0,
    "train.val_every": AT_LEAST_1,
    "train.val_after": AT_LEAST_0,
    "train.seed": SEED,
    "train.accelerator": Choice(ACCELERATORS),
    "train.precision": Choice(PRECISIONS),
    "train.out_dir": NonEmpty(),
    "train.log_every_n_steps": AT_LEAST_1,
}
"""Dotted key -> its valid values; for a list, those of every item, for a mapping, those of
every value. ``train.devices`` and ``train.limit_train_batches`` depend on their type
(:data:`SPECIAL`)."""

SPECIAL = {
    "train.devices": 'an integer >= 1, -1 (all), auto, or device indices as text ("0,1")',
    "train.limit_train_batches": "a share in (0, 1] or a number of batches >= 1",
    "train.monitor": "a validation metric the task logs (val_loss, val_miou, val_pq, ...)",
}
"""Keys whose valid values a rule between keys or types checks, described for the docs."""


def valid_text(key: str) -> str:
    """What ``key`` (dotted) accepts, for the docs: ``">= 1"``, ``"in [0, 1]"``; ``""`` when
    its type says it all."""
    if key in SPECIAL:
        return SPECIAL[key]
    return str(VALID[key]) if key in VALID else ""


def _values(value: Any) -> Iterable[Any]:
    """The values a rule of :data:`VALID` applies to: the items of a list, the values of a
    mapping, else ``value`` itself (None: none)."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, dict):
        return value.values()
    return (value,)


def _get(cfg: ExperimentConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _check_valid(cfg: ExperimentConfig) -> None:
    for key, valid in VALID.items():
        value = _get(cfg, key)
        for item in _values(value):
            if item not in valid:
                within = "" if item is value else f" in {value!r}"
                raise ConfigError(f"{key}: expected {valid}, got {item!r}{within}", key)


def _check_devices(devices: int | str) -> None:
    """Lightning's devices: a count >= 1, -1 (all), ``auto``, or GPU indices ``"0,1"``."""
    text = devices.strip() if isinstance(devices, str) else None
    if text is None or text.lstrip("-").isdigit():
        count = int(devices)
        if count >= 1 or count == -1:
            return
    elif text == "auto":
        return
    else:
        indices = [d.strip() for d in text.split(",")]
        if all(d.isdigit() for d in indices) and len(set(indices)) == len(indices):
            return
    raise ConfigError(
        f"train.devices: expected {SPECIAL['train.devices']}, got {devices!r}", "train.devices"
    )


def _check_limit(limit: float | int) -> None:
    if (isinstance(limit, float) and 0 < limit <= 1) or (isinstance(limit, int) and limit >= 1):
        return
    raise ConfigError(
        f"train.limit_train_batches: expected {SPECIAL['train.limit_train_batches']}, "
        f"got {limit!r}",
        "train.limit_train_batches",
    )


def _check_disjoint(
    cfg: ExperimentConfig, stem: str, key: Callable[[Any], Any] = lambda item: item
) -> None:
    """``data.<split>_<stem>`` lists: no item twice in one list, none in two splits."""
    parts = {s: getattr(cfg.data, f"{s}_{stem}") for s in ("train", "val", "test")}
    for split, items in parts.items():
        if items is None:
            continue
        seen = [key(i) for i in items]
        twice = sorted({i for i in seen if seen.count(i) > 1}, key=str)
        if twice:
            raise ConfigError(
                f"data.{split}_{stem}: {twice} listed twice in {items!r}", f"data.{split}_{stem}"
            )
    names = [s for s in parts if parts[s] is not None]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted({key(x) for x in parts[a]} & {key(x) for x in parts[b]}, key=str)
            if shared:
                raise ConfigError(
                    f"data.{a}_{stem} and data.{b}_{stem} share {shared}: the {b} samples would "
                    f"leak into the {a} split; give each split its own {stem}",
                    f"data.{a}_{stem}",
                    f"data.{b}_{stem}",
                )


def _root(path: str) -> str:
    return os.path.normcase(os.path.abspath(os.path.expanduser(path)))


def _check_splits(cfg: ExperimentConfig) -> None:
    data = cfg.data
    _check_disjoint(cfg, "folds")
    _check_disjoint(cfg, "tiles", lambda t: str(t).upper().removeprefix("T"))
    _check_disjoint(cfg, "roots", _root)
    _check_disjoint(cfg, "groups")
    if len(data.split_fractions) != 3 or abs(sum(data.split_fractions) - 1) > 1e-6:
        raise ConfigError(
            "data.split_fractions: expected 3 shares (train, val, test) summing to 1, "
            f"got {data.split_fractions}",
            "data.split_fractions",
        )
    if data.fold >= data.n_folds:
        raise ConfigError(
            f"data.fold: expected 0..{data.n_folds - 1} (data.n_folds {data.n_folds}), "
            f"got {data.fold}",
            "data.fold",
        )
    if data.months is not None and len(set(data.months)) != len(data.months):
        raise ConfigError(
            f"data.months: expected distinct months, got {data.months}", "data.months"
        )


def _check_train(cfg: ExperimentConfig) -> None:
    train = cfg.train
    metrics = MONITOR_METRICS.get(cfg.task, ())
    if train.monitor not in metrics:
        raise ConfigError(
            f"train.monitor: {train.monitor!r} is not logged by the {cfg.task} task; "
            f"expected one of {', '.join(metrics)}",
            "train.monitor",
        )
    if any(b <= a for a, b in zip(train.milestones, train.milestones[1:], strict=False)):
        raise ConfigError(
            f"train.milestones: expected increasing epochs, got {train.milestones}",
            "train.milestones",
        )
    if train.scheduler == "plateau" and (train.val_every != 1 or train.val_after != 0):
        raise ConfigError(
            "train.scheduler: plateau reduces on the validation loss of every epoch; with "
            f"train.val_every {train.val_every} / train.val_after {train.val_after} expected "
            "val_every 1 and val_after 0, or another schedule",
            "train.scheduler",
        )


def check_ranges(cfg: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` (naming the dotted key, the value and what is expected) when
    a single value of ``cfg`` is outside :data:`VALID` (or ``train.devices`` /
    ``train.limit_train_batches`` are invalid)."""
    _check_valid(cfg)
    _check_devices(cfg.train.devices)
    _check_limit(cfg.train.limit_train_batches)


def check_values(cfg: ExperimentConfig) -> None:
    """:func:`check_ranges`, then the rules between keys (disjoint splits, a monitor metric
    the task logs, ...): :class:`ConfigError` naming the keys.

    Machine-independent: the accelerator's presence is :func:`check_runtime`'s job.
    """
    check_ranges(cfg)
    _check_splits(cfg)
    _check_train(cfg)


def check_runtime(cfg: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` when this machine cannot run ``cfg``: ``train.accelerator``
    names a device that is not present (gpu / cuda / mps / tpu), or ``train.devices`` asks for
    more GPUs than there are. Called by the commands that train or score, before any data is
    read."""
    import torch

    accelerator, devices = cfg.train.accelerator, cfg.train.devices
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    present = {"auto": True, "cpu": True, "cuda": cuda, "mps": mps, "gpu": cuda or mps}
    if not present.get(accelerator, False):
        found = ["cpu"] + (["cuda"] if cuda else []) + (["mps"] if mps else [])
        raise ConfigError(
            f"train.accelerator: {accelerator!r} is not present on this machine; "
            f"available: auto, {', '.join(found)}",
            "train.accelerator",
        )
    if accelerator in ("cuda", "gpu") and cuda:
        count = torch.cuda.device_count()
        wanted = devices if isinstance(devices, int) else None
        if isinstance(devices, str) and devices.strip() not in ("auto", "-1"):
            wanted = max(int(d) for d in devices.split(",")) + 1
        if wanted is not None and wanted > count:
            raise ConfigError(
                f"train.devices: {devices!r} asks for more GPUs than the {count} present",
                "train.devices",
            )


def _pastis_date_counts(cfg: ExperimentConfig) -> tuple[Path, dict[str, dict[int, int]]] | None:
    """``metadata.geojson`` of a PASTIS-layout ``data.root`` and, per modality, the number of
    dates of each patch of the configured folds (its ``dates-<modality>``); None for other
    formats, a missing file or a modality without dates (the reader says what is missing)."""
    data = cfg.data
    path = Path(data.root) / "metadata.geojson"
    if data.format != "pastis" or not path.is_file():
        return None
    from sitsfusion.data.readers.pastis import read_metadata

    meta = read_metadata(path)  # refuses a patch with an empty date list, naming the file
    meta = meta[meta["Fold"].isin([*data.train_folds, *data.val_folds, *data.test_folds])]
    counts: dict[str, dict[int, int]] = {}
    for m in data.modalities:
        column = f"dates-{m}"
        if column not in meta.columns or meta[column].isna().any():
            return None
        counts[m] = {int(pid): len(d) for pid, d in meta[column].items()}
    return path, counts


def _seen_by_model(
    cfg: ExperimentConfig, counts: dict[str, dict[int, int]]
) -> dict[str, dict[int, int]]:
    """The number of dates the model receives per modality and sample, after the date
    transforms of ``data``: monthly medians (``months``: one per month), sub-sequences (at
    most ``subsequence[m]``), resampling onto ``resample_to``'s dates."""
    data = cfg.data
    seen: dict[str, dict[int, int]] = {}
    for m, per in counts.items():
        n = {k: len(data.months) if data.months is not None else t for k, t in per.items()}
        cap = data.subsequence.get(m)
        seen[m] = {k: min(t, cap) for k, t in n.items()} if cap else n
    if data.resample_to in seen:
        seen = {m: seen[data.resample_to] for m in seen}
    return seen


def _patches(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:5])
    return f"{len(ids)} patch(es) ({shown}{', ...' if len(ids) > 5 else ''})"


def check_dates(cfg: ExperimentConfig) -> None:
    """Refuse, before training, a dataset whose series do not fit what ``cfg`` needs; one
    line naming the dataset file, the patches and the key (docs/reliability.md, "Dates").

    Read from the metadata (PASTIS layout: ``dates-<modality>`` of the configured folds;
    other formats are not checked here). Per modality, the dates the model receives (after
    ``data.months``, ``data.subsequence``, ``data.resample_to``):

    * more than TempCNN's ``model.temporal.max_len`` (its flatten has a fixed length): a
      DatasetError (before, an error in the middle of the first epoch);
    * other than the ``model.encoder.num_dates`` a ``unet_stack`` stacks: a DatasetError;
    * fewer stored dates than ``data.subsequence[m]``: a :class:`DataWarning` with the count
      (the series is used whole, as :func:`~sitsfusion.data.transforms.random_subsequence`
      does); a patch without any date is refused when the metadata is read.
    """
    found = _pastis_date_counts(cfg)
    if found is None:
        return
    path, counts = found
    seen = _seen_by_model(cfg, counts)
    temporal, encoder = cfg.model.temporal, cfg.model.encoder
    for m, per in seen.items():
        if cfg.task == "parcel" and temporal.get("name") == "tempcnn" and "max_len" in temporal:
            limit = int(temporal["max_len"])
            over = [k for k, t in per.items() if t > limit]
            if over:
                most = max(per[k] for k in over)
                raise DatasetError(
                    path,
                    f"{_patches(over)} give TempCNN up to {most} {m} dates, more than "
                    f"model.temporal.max_len = {limit}; raise model.temporal.max_len to "
                    f"{most} or set data.subsequence: {{{m}: {limit}}}",
                )
        if cfg.task != "parcel" and encoder.get("name") == "unet_stack":
            wanted = int(encoder.get("num_dates", 0))
            other = [k for k, t in per.items() if t != wanted]
            if other:
                have = sorted({per[k] for k in other})
                raise DatasetError(
                    path,
                    f"{_patches(other)} give {'/'.join(map(str, have))} {m} dates; the "
                    f"unet_stack encoder stacks exactly model.encoder.num_dates = {wanted}: "
                    f"set data.months to {wanted} months (monthly medians) or num_dates",
                )
    for m, length in cfg.data.subsequence.items():
        short = [k for k, t in counts.get(m, {}).items() if t < length]
        if short:
            fewest = min(counts[m][k] for k in short)
            warnings.warn(
                f"{path}: {_patches(short)} have fewer {m} dates than data.subsequence.{m} = "
                f"{length} (fewest: {fewest}); they are used with all their dates",
                DataWarning,
                stacklevel=2,
            )
