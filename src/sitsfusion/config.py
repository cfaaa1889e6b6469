"""Typed experiment configuration: YAML files ↔ dataclasses, composition, clear errors.

A config has ``task``, ``name``, ``description`` and three sections, ``data``, ``model`` and
``train`` (see :class:`ExperimentConfig`). Every key is checked against the dataclasses below:
an unknown or mistyped key is an error naming the file that wrote it and the key.

Composition: a file may start from base files, ``extends: base.yaml`` or a list of them (paths
relative to the file; bases may extend others). The bases merge left to right, then the file's
own keys on top: mappings merge key by key; lists, scalars and ``{}`` replace. Several files
given to :func:`load_config` (several ``--config``) merge the same way, left to right; then
overrides with dotted keys (``--set train.epochs=2 --set data.root=/data/PASTIS-R``) replace
single values. An override's value is decided by its key's annotation: a text key (``str``,
string choices, either or null) takes the text literally (``data.root=2019`` is the folder
"2019", ``runs #1`` keeps its ``#1``); any other key reads it as YAML, refusing a comment.

Values are checked once the config is resolved (:mod:`sitsfusion.config_checks`: ranges,
disjoint splits, the monitor metric); files are ``stat``-ed before they are opened (a named
pipe is refused, never read) and must be UTF-8.

Each field's docstring (the string below it) says what the key means and cites the source of its
default; docs/configuration.md is generated from them (``sitsfusion config docs``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import stat
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sitsfusion.config_checks import check_values
from sitsfusion.errors import ConfigError

__all__ = [
    "EXTENDS",
    "ComposedConfig",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "TrainConfig",
    "compose_config",
    "load_config",
    "type_name",
]

#: the top-level key naming a file's base file(s)
EXTENDS = "extends"


# "feature": seed 003's ConvLSTM per sensor + Inception on the first dates, fused in a U-Net
Fusion = Literal["none", "early", "mid", "pse", "late", "decision", "feature"]


@dataclass
class DataConfig:
    """Where the samples come from and how they are prepared."""

    format: Literal[
        "pastis", "pixelset", "multisenge", "long_table", "wide_table", "oad", "sen4agrinet"
    ] = "pastis"
    """The layout on disk, i.e. the reader (docs/formats.md)."""
    root: str = "data/PASTIS-R"
    """The dataset folder (or table file); relative paths start at the working directory."""
    modalities: list[str] = field(default_factory=lambda: ["S2"])
    """The sensors read, e.g. ``[S2, S1A, S1D]`` (PASTIS-R: Sentinel-2, Sentinel-1 ascending,
    Sentinel-1 descending)."""
    train_folds: list[int] = field(default_factory=lambda: [1, 2, 3])
    """PASTIS: folds of the training split. The official folds, first of the five rotations
    (reference §4: [1, 2, 3] / 4 / 5)."""
    val_folds: list[int] = field(default_factory=lambda: [4])
    """PASTIS: folds of the validation split (reference §4)."""
    test_folds: list[int] = field(default_factory=lambda: [5])
    """PASTIS: folds of the test split (reference §4)."""
    n_pixels: int = 64
    """Parcel task: pixels sampled per parcel (seed 000, Sec. 4.3: 64 pixels sampled per
    parcel)."""
    batch_size: int = 128
    """Samples per batch (seed 001, Sec. 4.2: batches of 128 parcels)."""
    num_workers: int = 0
    """DataLoader worker processes (0: samples are read in the main process)."""
    cache: bool = False
    """PASTIS: keep the arrays read from disk in memory (each worker holds its own cache)."""
    temporal_dropout: dict[str, float] = field(default_factory=dict)
    """Training only: share of each modality's dates dropped at random, e.g. ``{S2: 0.4}``;
    ``{}`` = off (seed 001, Sec. 3.3 / 4.2: p = 0.4 (S2), 0.2 (S1A, S1D) when enabled)."""
    resample_to: str | None = None
    """Early / PSE fusion: resample the other modalities onto this one's dates; null = off
    (seed 000, Sec. 4.2)."""
    resample_method: Literal["linear", "nearest", "nearest_unique"] = "linear"
    """How ``resample_to`` fills a date: linear interpolation, the nearest date, or the
    nearest date taken at most once (docs/transforms.md)."""
    augment: bool = False
    """Random flips / 90° rotations of training patches (seed 003, Sec. 3.4)."""
    eval_drop: dict[str, float] = field(default_factory=dict)
    """Evaluation only: share of each modality's observations removed at random; ``{}`` = off
    (seed 001 Sec. 4.4 / Fig. 8: cloud cover simulated on the test set, radar unchanged)."""
    subsequence: dict[str, int] = field(default_factory=dict)
    """A random sub-sequence of this many observations per modality, e.g. ``{S2: 27}``;
    ``{}`` = off (seed 000, Sec. 4.2: 27 S2 observations per parcel)."""
    until: str | None = None
    """Every split: only the observations on or before this ISO date (YYYY-MM-DD) of every
    modality, counted from the data's reference date; null = the whole series (seed 000,
    Sec. 5.4 / Fig. 7: early-season mapping by quarterly increments from October 2018)."""
    class_scheme: int = 14
    """MultiSenGE: 14, 10 or 6 classes (seed 003, Table 3)."""
    train_tiles: list[str] | None = None
    """MultiSenGE: tiles of the training split; null = the paper's tiles (seed 003,
    Sec. 2.2)."""
    val_tiles: list[str] | None = None
    """MultiSenGE: tiles of the validation split; null = the paper's tiles (seed 003,
    Sec. 2.2)."""
    test_tiles: list[str] | None = None
    """MultiSenGE: tiles of the test split; null = the paper's tiles (seed 003, Sec. 2.2)."""
    train_roots: list[str] = field(default_factory=list)
    """Pixel-set and table formats: roots (folders or files) of the training split; [] =
    ``root`` split at random per class by ``split_fractions`` (seed 000: regions Chateaulin +
    Quimper)."""
    val_roots: list[str] = field(default_factory=list)
    """Pixel-set and table formats: roots of the validation split (seed 000: Morlaix)."""
    test_roots: list[str] = field(default_factory=list)
    """Pixel-set and table formats: roots of the test split (seed 000: Brest)."""
    reference_date: str | None = None
    """Pixel-set format: common time origin of every root (ISO date); null = the earliest."""
    nomenclature: str | None = None
    """The label set: a label key of the pixel sets (e.g. CODE_GROUP) or a nomenclature of
    Sen4AgriNet / OAD (e.g. sen4agrinet); null = the format's own labels."""
    classes: list[int] | None = None
    """Keep only samples of these class codes, in this order; null = every class."""
    split_seed: int = 0
    """Seed of the random splits (stratified, k-fold, validation part of the groups)."""
    split_fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    """Train / val / test shares of a random split (seed 004 scenario 1: 60/20/20)."""
    duplicate_dates: Literal["error", "merge"] = "error"
    """Same-day observations of one parcel: an error, or averaged (real exports have them)."""
    split: Literal["stratified", "kfold", "groups"] = "stratified"
    """Tables, OAD and Sen4AgriNet: how samples are split into train / val / test:
    "stratified" (``split_fractions``; seed 004 scenario 1: 60/20/20), "kfold" (test =
    ``fold``, val = ``fold`` + 1), "groups" (train on ``train_groups``, test on
    ``test_groups``: seed 004 scenarios 2-3). Samples of one cluster (polygon, patch) always
    stay together."""
    n_folds: int = 5
    """"kfold" split: the number of folds."""
    fold: int = 0
    """"kfold" split: the test fold (validation: the next one)."""
    groups: list[str] | None = None
    """Keep only these region x year groups ``<region>/<year>`` (all splits); shell wildcards
    allowed (``catalonia/*``, ``france/2019``); null = all."""
    train_groups: list[str] | None = None
    """"groups" split: the training groups (same patterns as ``groups``)."""
    val_groups: list[str] | None = None
    """"groups" split: the validation groups; null = a stratified part of the training
    groups."""
    test_groups: list[str] | None = None
    """"groups" split: the test groups."""
    normalize: Literal["auto", "none", "zscore"] = "auto"
    """Channel-wise z-score with the training split's statistics (published by the format,
    else computed from valid observations only). auto: the format's default, zscore for
    pastis (seed 001 Sec. 4.2, its NORM files) and multisenge (seed 003 Sec. 3.4), none for
    the other formats."""
    reader: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the reader (e.g. bands, label / id columns, sub-patch
    size)."""
    months: list[int] | None = None
    """Monthly medians over these months (1-12); null = off (seed 004, Sec. VI: April to
    September)."""

    def inputs(self) -> list[str]:
        """Every dataset path this section reads (``root`` and the per-split roots): what an
        output must never be, contain or lie inside."""
        return [self.root, *self.train_roots, *self.val_roots, *self.test_roots]


@dataclass
class ModelConfig:
    """The architecture: per-modality encoders, how they are fused, and the decoder."""

    fusion: Fusion = "none"
    """Where the modalities meet: none (one modality), early (inputs), mid (spatial
    features), pse (per-date features, seed 000), late (temporal features), decision
    (predictions), feature (seed 003's ConvLSTM per sensor + Inception on the first dates, fused
    in a U-Net). docs/parcel-classification.md maps the papers' names."""
    num_classes: int = 18
    """Outputs K (seed 001, Sec. 4.2: K = 18 crop classes of PASTIS)."""
    spatial: dict[str, Any] = field(
        default_factory=lambda: {"name": "pse", "mlp1": [32, 64], "mlp2": [128]}
    )
    """Parcel task: the spatial encoder, ``name`` and its options (seed 001 Sec. 3.4 /
    Table 1: PSE)."""
    temporal: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "ltae",
            "n_head": 16,
            "d_k": 4,
            "d_model": 256,
            "mlp": [256, 128],
        }
    )
    """Parcel task: the temporal encoder, ``name`` and its options (seed 001 Sec. 3.4 /
    Table 1: L-TAE with the L-TAE reference defaults, U-TAE's d_k = 4)."""
    decoder: list[int] = field(default_factory=lambda: [64, 32])
    """Parcel task: hidden widths of the MLP classifier (the reference decoder [D, 64, 32, K],
    pytorch-psetae models/decoder.py)."""
    auxiliary: float = 0.0
    """Weight λ of the per-modality auxiliary classifiers' losses; 0 = off (seed 001,
    Sec. 3.2 / 4.2: λ = 0.5 per modality when auxiliary supervision is on)."""
    decision_rule: Literal["mean", "product"] = "mean"
    """Decision fusion: how the modalities' probabilities combine (seed 000, Sec. 4.2)."""
    encoder: dict[str, Any] = field(default_factory=lambda: {"name": "utae"})
    """Semantic / panoptic tasks: the spatio-temporal encoder per modality, ``name`` and its
    options (seed 001 Sec. 3.4: U-TAE)."""
    head: list[int] = field(default_factory=lambda: [32])
    """Semantic / panoptic tasks: hidden widths of the conv decoder (U-TAE out_conv [32, K];
    seed 001 Sec. 3.4: "a 2-layer convolutional neural net as decoder")."""
    dense_decoder: Literal["conv", "vgg16_unet", "linear"] = "conv"
    """Semantic task: the decoder of dense models: a small conv net (U-TAE), seed 003's
    VGG-16 U-Net, or "linear": a 1x1 convolution (the last layer of seed 004's PAD models)."""
    unet_widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512])
    """"vgg16_unet" decoder: channel widths of its stages (VGG-16, seed 003 Fig. 5)."""
    legacy_logit_norm: bool = False
    """BatchNorm + ReLU on the logits, as the reference U-TAE (2K more parameters)."""
    ignore_index: int | None = None
    """Label ignored by the loss and the metrics; null = none (PASTIS semantic: 19, void;
    seed 001 Sec. 4.2)."""
    shared_temporal: list[str] = field(default_factory=list)
    """Late / decision fusion: modalities whose encoders share one temporal encoder (e.g.
    [S1A, S1D]); [] = one per modality, as seed 001's text describes."""
    paps: dict[str, Any] = field(default_factory=dict)
    """Panoptic task: options of the PaPs head; its defaults are the reference's: shape 16,
    mask conv, min_confidence 0.2, min_remain 0.5, threshold 0.4 (reference §2.6)."""


@dataclass
class TrainConfig:
    """Optimisation, loss, checkpoint selection and logging."""

    lr: float = 1e-3
    """Adam learning rate (seed 001, Sec. 4.2; seed 000, Sec. 4.3: Adam, lr 0.001)."""
    epochs: int = 100
    """Training epochs (seed 001, Sec. 4.2; seed 000, Sec. 4.3)."""
    loss: Literal["cross_entropy", "focal", "weighted_cross_entropy"] = "cross_entropy"
    """The loss; weighted_cross_entropy weighs classes by inverse training frequency
    (seed 003, Sec. 3.4)."""
    focal_gamma: float = 2.0
    """Focal loss: focusing parameter γ (seed 000, Sec. 4.3)."""
    monitor: str = "val_miou"
    """Metric choosing the best checkpoint and driving early stopping, e.g. val_miou,
    val_loss, val_pq (best checkpoint by validation mIoU: seed 000, Sec. 4.3)."""
    scheduler: Literal["none", "plateau", "step", "multistep"] = "none"
    """Learning-rate schedule: none, plateau (reduce on a validation-loss plateau), step
    (every ``step_size`` epochs), multistep (at ``milestones``)."""
    milestones: list[int] = field(default_factory=list)
    """"multistep" schedule: epochs of the learning-rate steps."""
    plateau_factor: float = 0.5
    """"plateau" schedule: factor of each reduction (seed 003 training code:
    ReduceLROnPlateau(0.5, patience 5))."""
    plateau_patience: int = 5
    """"plateau" schedule: epochs without improvement before a reduction (seed 003 training
    code)."""
    step_size: int = 5
    """"step" schedule: epochs between steps (seed 004 Sec. VI-B: x0.1 every 5 epochs)."""
    step_gamma: float = 0.1
    """"step" / "multistep" schedules: factor of each step (seed 004 Sec. VI-B: x0.1)."""
    early_stopping_patience: int | None = None
    """Stop after this many epochs without improvement of ``monitor``; null = never
    (seed 003: 20 epochs)."""
    warmup_epochs: int = 0
    """Panoptic task: first epochs training the centerness heatmap only (reference §4:
    5 warm-up epochs)."""
    val_every: int = 1
    """Epochs between two validations (the reference's panoptic training: 5); the last
    epoch is always validated."""
    val_after: int = 0
    """No validation up to this epoch (the reference's panoptic training: 65); the best
    checkpoint is chosen among the validated epochs."""
    seed: int = 0
    """Seed of the weights, the sampling and the augmentations."""
    accelerator: str = "auto"
    """Lightning accelerator: auto, cpu, gpu, mps, ..."""
    devices: int | str = 1
    """Lightning devices: a number, a list as text ("0,1") or "auto"."""
    precision: str = "32-true"
    """Lightning precision, e.g. 32-true, 16-mixed, bf16-mixed."""
    out_dir: str = "runs"
    """Where runs are written: run folders are ``<out_dir>/<task>/<name>``."""
    log_every_n_steps: int = 10
    """Training steps between two logged values."""
    limit_train_batches: float | int = 1.0
    """Training batches per epoch: a share (1.0 = all) or a number (quick trials)."""


@dataclass
class ExperimentConfig:
    """One experiment: ``task`` plus the three sections; ``name`` labels the run."""

    task: Literal["parcel", "semantic", "panoptic"] = "parcel"
    """Parcel classification, semantic segmentation or panoptic segmentation."""
    name: str = "experiment"
    """The run's name (its folder: ``<train.out_dir>/<task>/<name>``)."""
    description: str = ""
    """What the experiment is, e.g. the paper's table and row."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- checking


def type_name(annotation: Any) -> str:
    """A type as a reader of YAML files sees it: ``list[int] or null``, ``pastis / pixelset``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return "any"
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " / ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return annotation.__name__


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """``value`` converted to ``annotation`` where lossless, else :class:`ConfigError`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        _check_finite(value, where)
        return value
    if origin in (typing.Union, types.UnionType):
        # a value of one of the types as it is first (an int stays an int in ``float | int``)
        for arg in sorted(args, key=lambda a: not _is_exactly(value, a)):
            try:
                return _check_type(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {type_name(annotation)}, got {value!r}")
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
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)  # YAML reads 1e-3 as a string
        except (ValueError, OverflowError):  # not a number; an int beyond a float's range
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
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


def _is_exactly(value: Any, annotation: Any) -> bool:
    """``value`` is already of the plain type ``annotation`` (no conversion needed)."""
    return isinstance(annotation, type) and type(value) is annotation


def _check_finite(value: Any, where: str) -> None:
    """No NaN or infinite float anywhere in ``value`` (a free-form option of a mapping)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def _build(cls: type, values: Any, where: str) -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``values`` (missing keys: the
    defaults); :class:`ConfigError` naming ``where`` and the key on an unknown or bad key."""
    prefix = f"{where}: " if where else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        guesses = difflib.get_close_matches(str(unknown[0]), names, n=1)
        hint = f"did you mean {guesses[0]!r}?" if guesses else f"known: {sorted(names)}"
        raise ConfigError(f"{prefix}unknown key(s) {unknown}; {hint}")
    kwargs = {
        k: _check_type(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()
    }
    return cls(**kwargs)


# ------------------------------------------------------------------------ composition


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (the first would be
    lost silently)."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, typing.Hashable):
            continue  # YAML's own constructor reports it
        if key in seen:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} written twice")
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser error in one line: the problem and where."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _check_regular_file(path: Path, what: str) -> None:
    """:class:`ConfigError` unless ``path`` is a regular file; checked with ``stat`` before any
    ``open``, so a named pipe or a device cannot block the reading."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {what} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: is {_file_kind(mode)}, expected a {what}")


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping at the top of the YAML file ``path`` ({} for an empty file)."""
    _check_regular_file(path, "config file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: config file cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
            f"line {line}); save the file as UTF-8"
        ) from None
    try:
        tree = yaml.load(text, Loader=_Loader)  # a safe loader
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    tree = {} if tree is None else tree
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return tree


def _bases(value: Any, path: Path) -> list[Path]:
    """The files named by the ``extends`` value of ``path``, relative to its folder."""
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}: {EXTENDS}: expected a file name or a list of file names")
    bases = []
    for name in names:
        base = Path(os.path.normpath(path.parent / name))
        if not base.exists():
            raise ConfigError(f"{path}: {EXTENDS} {name!r}: no such file {base}")
        try:
            _check_regular_file(base, "YAML file")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {EXTENDS} {name!r}: {exc}") from None
        bases.append(base)
    return bases


def _check(tree: dict[str, Any], source: str) -> None:
    """Every key of ``tree`` (one file's own keys, or one override) is known and well typed."""
    try:
        _build(ExperimentConfig, tree, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


Origins = dict[str, tuple[str, ...]]


def _merge(
    into: dict[str, Any], tree: dict[str, Any], source: str, origins: Origins, at: str = ""
) -> None:
    """Merge ``tree`` into ``into``: mappings key by key, anything else (and an empty mapping,
    ``{}``) replaced; ``origins`` gains ``source`` for every dotted key written (replaced
    values: only ``source``)."""
    for key, value in tree.items():
        dotted = f"{at}{key}"
        if isinstance(value, dict) and value:
            if isinstance(into.get(key), dict):
                _add_origin(origins, dotted, source)
            else:
                into[key], origins[dotted] = {}, (source,)
            _merge(into[key], value, source, origins, f"{dotted}.")
        else:
            into[key], origins[dotted] = copy.deepcopy(value), (source,)


def _add_origin(origins: Origins, dotted: str, source: str) -> None:
    known = origins.get(dotted, ())
    origins[dotted] = known if source in known else (*known, source)


def _annotation_at(parts: Sequence[str]) -> Any:
    """The type of the dotted key ``parts`` (``Any`` inside a free-form mapping, None for an
    unknown key)."""
    annotation: Any = ExperimentConfig
    for part in parts:
        if dataclasses.is_dataclass(annotation):
            annotation = typing.get_type_hints(annotation).get(part)
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        elif annotation is not Any:
            return None
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types of a union, or the type itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_text(annotation: Any) -> bool:
    """A string or one of string choices."""
    if typing.get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    return annotation is str


def _has_comment(text: str) -> bool:
    """``text`` (a YAML value) holds a comment: a ``#`` outside every YAML token."""
    try:
        tokens = list(yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return False
    inside = [(t.start_mark.index, t.end_mark.index) for t in tokens]
    return any(c == "#" and not any(a <= i < b for a, b in inside) for i, c in enumerate(text))


def _override_value(text: str, annotation: Any, override: str) -> Any:
    """The value of ``--set KEY=text`` for a key of type ``annotation`` (None: unknown key).

    Text keys (a string, string choices, or those or null) take ``text`` literally (``null``,
    ``~`` or nothing: null where null is allowed). Other keys read it as YAML; where a union
    also admits a string, a text YAML would turn into a value of another type (a number, a
    mapping, a comment dropped) stays literal.
    """
    members = _members(annotation)
    text_ok = any(_is_text(m) for m in members)
    if text_ok and all(_is_text(m) or m is type(None) for m in members):
        if type(None) in members and text.strip() in ("", "null", "~"):
            return None
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if text_ok:
            return text
        raise ConfigError(f"--set {override!r}: not valid YAML ({_yaml_problem(exc)})") from None
    if _has_comment(text):
        if text_ok:
            return text
        raise ConfigError(
            f"--set {override!r}: the value holds a YAML comment (' #'), which would be "
            "dropped; quote the value or remove the comment"
        )
    if text_ok and not isinstance(value, str):
        try:
            _check_type(value, annotation, "")
        except ConfigError:
            return text
    return value


def _parse_override(override: str) -> tuple[list[str], Any, dict[str, Any]]:
    """The dotted key of ``KEY=VALUE`` split at the dots, its value (:func:`_override_value`:
    literal text for text keys, else YAML) and the nested mapping it sets."""
    if "=" not in override:
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. train.epochs=2")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {override!r}: expected a dotted key such as train.epochs")
    value = _override_value(text, _annotation_at(parts), override)
    tree: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        tree = {part: tree}
    return parts, value, tree


def _assign(tree: dict[str, Any], parts: list[str], value: Any, override: str) -> None:
    """Set the dotted key ``parts`` of ``tree`` to ``value``; a mapping no file wrote starts
    from its default (``model.temporal.n_head=8`` keeps the other L-TAE options)."""
    node, default = tree, ExperimentConfig().to_dict()
    for part in parts[:-1]:
        default = default.get(part) if isinstance(default, dict) else None
        if part not in node:
            node[part] = copy.deepcopy(default) if isinstance(default, dict) else {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"--set {override!r}: {part!r} is not a section")
    node[parts[-1]] = value


@dataclass(frozen=True)
class ComposedConfig:
    """A config resolved from files and overrides, and where each value came from.

    Attributes:
        config: the resolved, checked config.
        files: every file read, in merge order (bases before the files extending them).
        overrides: the ``KEY=VALUE`` overrides applied after the files.
        origins: dotted key (``"model.fusion"``, ``"data"``) -> the files (or ``--set KEY=VALUE``)
            that wrote it, in order: one source for a replaced value, several for a mapping
            merged from several; keys absent hold their defaults.
    """

    config: ExperimentConfig
    files: tuple[Path, ...]
    overrides: tuple[str, ...]
    origins: Origins


class _Composer:
    """Reads files with their bases into one raw tree, checking each file's own keys."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}
        self.files: list[Path] = []
        self.origins: Origins = {}

    def add_file(self, path: Path, chain: tuple[Path, ...] = ()) -> None:
        resolved = [p.resolve() for p in chain]
        if path.resolve() in resolved:
            cycle = " -> ".join(str(p) for p in (*chain[resolved.index(path.resolve()) :], path))
            raise ConfigError(f"{chain[-1]}: {EXTENDS} cycle {cycle}")
        own = _read_yaml(path)
        for base in _bases(own.pop(EXTENDS, None), path):
            self.add_file(base, (*chain, path))
        _check(own, str(path))
        _merge(self.tree, own, str(path), self.origins)
        self.files.append(path)

    def add_override(self, override: str) -> None:
        parts, value, tree = _parse_override(override)
        _check(tree, f"--set {override}")
        _assign(self.tree, parts, value, override)
        source = f"--set {override}"
        for i in range(1, len(parts)):
            _add_origin(self.origins, ".".join(parts[:i]), source)
        self.origins[".".join(parts)] = (source,)


def _as_paths(paths: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[Path]:
    if paths is None:
        return []
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    return [Path(p) for p in paths]


def compose_config(
    paths: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    overrides: Sequence[str] = (),
) -> ComposedConfig:
    """Resolve config files (each with its ``extends`` bases; several merge left to right) and
    ``KEY=VALUE`` overrides into a checked config, remembering where each value came from.

    Raises:
        ConfigError: a missing or non-regular file, an ``extends`` cycle, invalid UTF-8 or
            YAML, an unknown or mistyped key, a value outside its valid range or breaking a
            rule between keys (:mod:`sitsfusion.config_checks`), named with the file or
            override that wrote it.
    """
    composer = _Composer()
    for path in _as_paths(paths):
        composer.add_file(path)
    for override in overrides:
        composer.add_override(override)
    sources = " + ".join(str(p) for p in composer.files) or "defaults"
    try:
        config = _build(ExperimentConfig, composer.tree, "")
    except ConfigError as exc:
        raise ConfigError(f"{sources}: {exc}") from None
    try:
        check_values(config)
    except ConfigError as exc:  # named after the file (or --set) that wrote the key
        written = dict.fromkeys(src for key in exc.keys for src in composer.origins.get(key, ()))
        where = ", ".join(written) if written else f"{sources} (default value)"
        raise ConfigError(f"{where}: {exc}", *exc.keys) from None
    return ComposedConfig(config, tuple(composer.files), tuple(overrides), composer.origins)


def load_config(
    paths: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    overrides: Sequence[str] = (),
) -> ExperimentConfig:
    """The config of YAML file(s) ``paths`` (None: the defaults) with ``overrides`` applied.

    ``paths`` is one file or a sequence merged left to right; each file's ``extends`` bases
    merge before it. ``overrides`` are ``KEY=VALUE`` strings with dotted keys
    (``train.epochs=2``): the value of a text key (a string, or a string choice) is the text
    itself, that of any other key is read as YAML. See :func:`compose_config`.
    """
    return compose_config(paths, overrides).config
