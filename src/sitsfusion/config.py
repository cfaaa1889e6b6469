"""Typed experiment configuration: YAML files ↔ dataclasses, with clear errors.

A config file has three sections, ``data``, ``model`` and ``train`` (see
:class:`ExperimentConfig`); every key is checked against the dataclasses below (an unknown or
mistyped key is an error naming the file and the key), and command-line overrides use dotted
keys: ``--set train.epochs=2 --set data.root=/data/PASTIS-R``. Every default cites its source.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "TrainConfig",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and key."""


# "feature": seed 003's ConvLSTM per sensor + Inception on the first dates, fused in a U-Net
Fusion = Literal["none", "early", "mid", "pse", "late", "decision", "feature"]


@dataclass
class DataConfig:
    """Where the samples come from and how they are prepared."""

    format: Literal[
        "pastis", "pixelset", "multisenge", "long_table", "wide_table", "oad", "sen4agrinet"
    ] = "pastis"
    root: str = "data/PASTIS-R"
    modalities: list[str] = field(default_factory=lambda: ["S2"])
    # PASTIS official folds, first of the five rotations (reference §4: [1,2,3] / 4 / 5)
    train_folds: list[int] = field(default_factory=lambda: [1, 2, 3])
    val_folds: list[int] = field(default_factory=lambda: [4])
    test_folds: list[int] = field(default_factory=lambda: [5])
    n_pixels: int = 64  # seed 000, Sec. 4.3: 64 pixels sampled per parcel
    batch_size: int = 128  # seed 001, Sec. 4.2: batches of 128 parcels
    num_workers: int = 0
    cache: bool = False
    # seed 001, Sec. 3.3 / 4.2: p = 0.4 (S2), 0.2 (S1A, S1D) when enabled; {} = off
    temporal_dropout: dict[str, float] = field(default_factory=dict)
    # early / PSE fusion: resample the other modalities onto this one's dates (seed 000 Sec. 4.2)
    resample_to: str | None = None
    resample_method: Literal["linear", "nearest", "nearest_unique"] = "linear"
    # seed 003, Sec. 3.4: random flips / 90° rotations of training patches
    augment: bool = False
    # evaluation only: share of each modality's observations removed at random (seed 001
    # Sec. 4.4 / Fig. 8: cloud cover simulated on the test set, radar unchanged); {} = off
    eval_drop: dict[str, float] = field(default_factory=dict)
    # seed 000, Sec. 4.2: a random sub-sequence of 27 S2 observations per parcel; {} = off
    subsequence: dict[str, int] = field(default_factory=dict)
    # MultiSenGE only: 14, 10 or 6 classes (seed 003 Table 3) and the tile split (Sec. 2.2;
    # None = the paper's tiles)
    class_scheme: int = 14
    train_tiles: list[str] | None = None
    val_tiles: list[str] | None = None
    test_tiles: list[str] | None = None
    # pixel-set format only: either one root split at random per class (split_fractions), or
    # explicit roots per split (seed 000: regions Chateaulin + Quimper / Morlaix / Brest)
    train_roots: list[str] = field(default_factory=list)
    val_roots: list[str] = field(default_factory=list)
    test_roots: list[str] = field(default_factory=list)
    reference_date: str | None = None  # common time origin of every root (None: the earliest)
    nomenclature: str | None = None
    classes: list[int] | None = None
    split_seed: int = 0
    split_fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    # same-day observations of one parcel: an error, or averaged (real exports have them)
    duplicate_dates: Literal["error", "merge"] = "error"
    # long_table / wide_table / oad / sen4agrinet: how samples are split into train/val/test:
    # "stratified" (split_fractions; seed 004 scenario 1: 60/20/20), "kfold" (test = fold,
    # val = fold + 1), "groups" (train on train_groups, test on test_groups: seed 004
    # scenarios 2-3). Samples of one cluster (polygon, patch) always stay together.
    split: Literal["stratified", "kfold", "groups"] = "stratified"
    n_folds: int = 5
    fold: int = 0
    # region x year groups "<region>/<year>" with shell wildcards ("catalonia/*", "france/2019")
    groups: list[str] | None = None  # keep only these groups (all splits)
    train_groups: list[str] | None = None
    val_groups: list[str] | None = None  # None: a stratified part of the training groups
    test_groups: list[str] | None = None
    # channel-wise z-score with the training split's statistics (published by the format, else
    # computed from valid observations); "auto" = the format's default: zscore for PASTIS
    # (seed 001 Sec. 4.2, its NORM files) and MultiSenGE (seed 003 Sec. 3.4), none otherwise
    normalize: Literal["auto", "none", "zscore"] = "auto"
    # extra keyword arguments of the reader (e.g. bands, label / id columns, sub-patch size)
    reader: dict[str, Any] = field(default_factory=dict)
    # seed 004, Sec. VI: monthly medians over these months (April-September); None = off
    months: list[int] | None = None


@dataclass
class ModelConfig:
    """The architecture: per-modality encoders, how they are fused, and the decoder."""

    fusion: Fusion = "none"
    num_classes: int = 18  # seed 001, Sec. 4.2: K = 18 crop classes of PASTIS
    # seed 001 Sec. 3.4 / Table 1: PSE + L-TAE (the L-TAE reference defaults, U-TAE's d_k = 4)
    spatial: dict[str, Any] = field(
        default_factory=lambda: {"name": "pse", "mlp1": [32, 64], "mlp2": [128]}
    )
    temporal: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "ltae",
            "n_head": 16,
            "d_k": 4,
            "d_model": 256,
            "mlp": [256, 128],
        }
    )
    # the reference decoder [D, 64, 32, K] (pytorch-psetae models/decoder.py)
    decoder: list[int] = field(default_factory=lambda: [64, 32])
    # seed 001, Sec. 3.2 / 4.2: lambda = 0.5 per modality when auxiliary supervision is on
    auxiliary: float = 0.0
    decision_rule: Literal["mean", "product"] = "mean"  # seed 000, Sec. 4.2
    # semantic segmentation: the spatio-temporal encoder per modality and the conv decoder
    # (seed 001 Sec. 3.4: U-TAE encoder, "a 2-layer convolutional neural net as decoder")
    encoder: dict[str, Any] = field(default_factory=lambda: {"name": "utae"})
    head: list[int] = field(default_factory=lambda: [32])  # U-TAE out_conv [32, K]
    # the decoder of dense models: a small conv net (U-TAE) or seed 003's VGG-16 U-Net
    # ("linear": a 1x1 convolution, the last layer of seed 004's PAD models)
    dense_decoder: Literal["conv", "vgg16_unet", "linear"] = "conv"
    unet_widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512])
    legacy_logit_norm: bool = False  # BN + ReLU on the logits, as the reference U-TAE
    ignore_index: int | None = None  # PASTIS semantic: 19 (void), seed 001 Sec. 4.2
    # late / decision fusion: modalities whose encoders share one temporal encoder (e.g.
    # [S1A, S1D]); [] = one per modality, as seed 001's text describes
    shared_temporal: list[str] = field(default_factory=list)
    # panoptic segmentation: options of the PaPs head (models/heads/paps.py; its defaults are
    # the reference's: shape 16, mask conv, min_confidence 0.2, min_remain 0.5, threshold 0.4)
    paps: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation, loss, checkpoint selection and logging."""

    lr: float = 1e-3  # seed 001, Sec. 4.2; seed 000, Sec. 4.3: Adam, lr 0.001
    epochs: int = 100  # seed 001, Sec. 4.2; seed 000, Sec. 4.3
    loss: Literal["cross_entropy", "focal", "weighted_cross_entropy"] = "cross_entropy"
    focal_gamma: float = 2.0  # seed 000, Sec. 4.3
    monitor: str = "val_miou"  # best checkpoint by validation mIoU (seed 000, Sec. 4.3)
    scheduler: Literal["none", "plateau", "step", "multistep"] = "none"
    milestones: list[int] = field(default_factory=list)  # "multistep": epochs of the LR steps
    plateau_factor: float = 0.5  # seed 003 training code: ReduceLROnPlateau(0.5, patience 5)
    plateau_patience: int = 5
    step_size: int = 5  # seed 004 Sec. VI-B: step scheduler, x0.1 every 5 epochs
    step_gamma: float = 0.1
    early_stopping_patience: int | None = None  # seed 003: 20 epochs on the monitored metric
    # panoptic: epochs training the centerness heatmap only (reference §4: 5 warm-up epochs)
    warmup_epochs: int = 0
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = 1
    precision: str = "32-true"
    out_dir: str = "runs/parcel"
    log_every_n_steps: int = 10
    limit_train_batches: float | int = 1.0


@dataclass
class ExperimentConfig:
    """One experiment: ``task`` plus the three sections; ``name`` labels the run."""

    task: Literal["parcel", "semantic", "panoptic"] = "parcel"
    name: str = "experiment"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """``value`` converted to ``annotation`` where lossless, else :class:`ConfigError`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _check_type(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} matches none of {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {
            _check_type(k, args[0], f"{where} key"): _check_type(v, args[1], f"{where}.{k}")
            for k, v in value.items()
        }
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                return float(value)  # YAML reads 1e-3 as a string
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    raise ConfigError(f"{where}: unsupported type {annotation}")


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {
        k: _check_type(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()
    }
    return cls(**kwargs)


def _parse_scalar(text: str) -> Any:
    return yaml.safe_load(text)


def _apply_override(tree: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE, e.g. train.epochs=2")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[parts[-1]] = _parse_scalar(text)


def load_config(
    path: str | Path | None = None, overrides: typing.Sequence[str] = ()
) -> ExperimentConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply ``overrides``."""
    tree: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        tree = loaded or {}
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    for override in overrides:
        _apply_override(tree, override)
    try:
        return _build(ExperimentConfig, tree, "")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
