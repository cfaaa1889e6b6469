"""The base data module: transforms, the one normalisation, loaders; a registry per format.

A format's data module only says how its samples split into train / val / test
(:meth:`SITSDataModule._splits`): PASTIS by folds, MultiSenGE by tiles, pixel sets by roots
or a stratified split, tables / OAD / Sen4AgriNet as one pool split by indices
(:class:`~sitsfusion.data.modules.pool.PoolDataModule`). Everything else happens here, the
same way for every format:

* transforms over dates (monthly medians, temporal dropout, augmentation, sub-sequences,
  simulated clouds on the evaluated sets, resampling onto a reference modality), then
* one :class:`~sitsfusion.data.transforms.Normalize`, the **last** transform of every split,
  with the training split's statistics: those the reader publishes
  (:meth:`~sitsfusion.data.readers.base.Reader.statistics`), else
  :func:`~sitsfusion.data.statistics.compute_statistics` over the training samples with the
  evaluation transforms;
* loaders: training shuffled, dropping a lone last sample (BatchNorm cannot train on a batch
  of one); validation and test never shuffled nor dropped.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from sitsfusion.config import ConfigError, DataConfig
from sitsfusion.data import transforms as T
from sitsfusion.data.readers.base import TASKS, Reader, format_tasks
from sitsfusion.data.sample import Sample, collate
from sitsfusion.data.statistics import MAX_SAMPLES, compute_statistics

__all__ = [
    "ReaderSubset",
    "SITSDataModule",
    "Split",
    "datamodule",
    "datamodule_class",
    "datamodule_formats",
    "register_datamodule",
]

Transform = Callable[[Sample], Sample]
M = TypeVar("M", bound="type[SITSDataModule]")

_MODULES: dict[str, type[SITSDataModule]] = {}


@dataclass
class Split:
    """The samples of one split: ``reader[i]`` for ``i`` in ``indices``.

    ``evaluation``: builds the evaluation-mode twin of ``reader`` (e.g. fixed instead of
    random pixel sampling) when the split's reader samples at random; None when ``reader``
    serves evaluation as it is.
    """

    reader: Reader
    indices: np.ndarray
    evaluation: Callable[[], Reader] | None = None
    _twin: Reader | None = field(default=None, repr=False)

    def evaluation_reader(self) -> Reader:
        """The reader that gives this split's samples deterministically (built once)."""
        if self.evaluation is None:
            return self.reader
        if self._twin is None:
            self._twin = self.evaluation()
        return self._twin


class ReaderSubset(Dataset[Sample]):
    """``dataset[indices[i]]`` passed through ``transform``."""

    def __init__(
        self, dataset: Dataset[Sample], indices: np.ndarray, transform: Transform | None
    ) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> Sample:
        sample = self.dataset[int(self.indices[i])]
        return sample if self.transform is None else self.transform(sample)


def _until_day(until: str | None, reference: Any, where: str) -> int | None:
    """``data.until`` as days since the training data's ``reference`` date (None: off).

    Raises:
        ConfigError: not an ISO date, or data without a reference date to count from.
    """
    if until is None:
        return None
    try:
        day = np.datetime64(str(until), "D")
    except ValueError:
        raise ConfigError(f"data.until: {until!r} is not an ISO date (YYYY-MM-DD)") from None
    if reference is None:
        raise ConfigError(
            f"data.until: {where} has no reference date to count days from; set data.reference_date"
        )
    return int((day - np.datetime64(str(reference)[:10], "D")).astype(int))


def _keep_modalities(sample: Sample, modalities: tuple[str, ...]) -> Sample:
    """The sample with only ``modalities`` (a two-sensor folder serves S1-only runs too)."""
    return sample.replace(series={m: sample[m] for m in modalities})


class SITSDataModule(L.LightningDataModule, abc.ABC):
    """Samples of every modality in ``cfg.modalities`` for one task.

    Build one with :func:`datamodule` (or ``SITSDataModule(cfg, ...)``, which returns the
    module registered for ``cfg.format``).

    Args:
        cfg: the data section of an experiment config.
        seed: seed of the evaluation pixel sampling, sub-sequences and the statistics subset.
        target: ``"parcel"``, ``"semantic"`` or ``"panoptic"``.

    After :meth:`setup`: ``train`` / ``val`` / ``test`` datasets, ``channels``
    ``{modality: C}``, ``class_names``, ``num_classes``, ``train_label_counts`` (samples or
    pixels per class, for class weights) and ``normalize`` (the
    :class:`~sitsfusion.data.transforms.Normalize` of every split, or None).

    Raises:
        ConfigError: an unknown task, or a format that does not serve it.
    """

    format: ClassVar[str] = ""
    normalize_default: ClassVar[Literal["none", "zscore"]] = "none"
    """What ``data.normalize: auto`` means for the format (cite the source)."""
    statistics_samples: ClassVar[int | None] = MAX_SAMPLES
    """Training samples read by :func:`compute_statistics` (None: all of them)."""

    def __new__(cls, cfg: DataConfig, seed: int = 0, target: str = "parcel") -> SITSDataModule:
        if cls is SITSDataModule:
            cls = datamodule_class(cfg.format)
        return super().__new__(cls)

    def __init__(self, cfg: DataConfig, seed: int = 0, target: str = "parcel") -> None:
        super().__init__()
        if target not in TASKS:
            raise ConfigError(f"task: {target!r} is not 'parcel', 'semantic' or 'panoptic'")
        if target not in format_tasks(cfg.format):
            serving = {t: [f for f in datamodule_formats() if t in format_tasks(f)] for t in TASKS}
            raise ConfigError(
                f"data.format: {cfg.format!r} does not serve the {target!r} task ("
                + "; ".join(f"{t}: {', '.join(formats)}" for t, formats in serving.items())
                + ")"
            )
        self.cfg = cfg
        self.seed = seed
        self.target = target
        self.train: ReaderSubset | None = None
        self.val: ReaderSubset | None = None
        self.test: ReaderSubset | None = None
        self.channels: dict[str, int] = {}
        self.class_names: list[str] = []
        self.train_label_counts: torch.Tensor | None = None
        self.normalize: T.Normalize | None = None
        self._splits_read: dict[str, Split] = {}
        self._keep: Transform | None = None
        self._until_day: int | None = None  # data.until in days of the data (set up)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # ---- what a format says ---------------------------------------------------------------

    @abc.abstractmethod
    def _splits(self) -> dict[str, Split]:
        """``{"train", "val", "test"}`` → :class:`Split` (the readers built from ``cfg``)."""

    def _where(self) -> str:
        """Where the data come from, for error messages."""
        cfg = self.cfg
        return ", ".join(cfg.train_roots + cfg.test_roots) if cfg.train_roots else cfg.root

    # ---- transforms ----------------------------------------------------------------------

    def _resample_map(self) -> dict[str, str]:
        ref = self.cfg.resample_to
        if ref is None:
            return {}
        if ref not in self.cfg.modalities:
            raise ConfigError(
                f"data.resample_to: {ref!r} is not among data.modalities {self.cfg.modalities}"
            )
        return {m: ref for m in self.cfg.modalities if m != ref}

    def _date_steps(self, train: bool, clouds: bool = True) -> list[Transform]:
        """Monthly medians, temporal dropout and augmentation (train), sub-sequences, simulated
        clouds (evaluation, when ``clouds``), then resampling onto the reference dates."""
        steps: list[Transform] = []
        cfg = self.cfg
        if self._until_day is not None:  # seed 000 Fig. 7: the season so far, every split
            steps.append(functools.partial(T.truncate, until=self._until_day))
        if cfg.months is not None:  # seed 004, Sec. VI: monthly medians before anything else
            from sitsfusion.data.binning import MonthlyMedian

            steps.append(MonthlyMedian(months=cfg.months))
        if train and cfg.temporal_dropout:
            steps.append(T.TemporalDropout(p=cfg.temporal_dropout, seed=None))
        if train and cfg.augment:
            steps.append(T.RandomFlipRot90(seed=None))
        for m, length in cfg.subsequence.items():  # evaluation: seeded, reproducible runs
            if m not in cfg.modalities:  # a shared base's setting (seed 000's S1-only config)
                continue
            seed = None if train else self.seed
            steps.append(T.RandomSubsequence(modality=m, length=length, seed=seed))
        if not train and clouds:  # simulated cloud cover on the evaluated sets (seeded)
            for m, fraction in cfg.eval_drop.items():
                steps.append(T.DropObservations(modality=m, fraction=fraction, seed=self.seed))
        # resampling after the date transforms, so that every modality ends on the same dates
        for src, tgt in self._resample_map().items():
            steps.append(
                functools.partial(T.resample, source=src, target=tgt, method=cfg.resample_method)
            )
        return steps

    def _pipeline(self, train: bool, statistics: bool = False) -> Transform | None:
        """The transforms of a split: modality selection, date steps, then :attr:`normalize`.

        ``statistics``: the evaluation pipeline the normalisation statistics are computed on:
        without the normalisation, and without the simulated clouds (``data.eval_drop``, an
        evaluation protocol that must not change the statistics a model was trained with).
        """
        steps = [] if self._keep is None else [self._keep]
        steps += self._date_steps(train, clouds=not statistics)
        if not statistics and self.normalize is not None:
            steps.append(self.normalize)
        return T.Compose(steps) if steps else None

    def _normalization(self, split: Split) -> T.Normalize | None:
        """The normalisation of ``data.normalize`` from the training split's statistics."""
        mode = self.cfg.normalize
        if mode == "auto":
            mode = type(self).normalize_default
        if mode == "none":
            return None
        modalities = list(self.cfg.modalities)
        published = split.reader.statistics(split.indices) or {}
        stats = {m: published[m] for m in modalities if m in published}
        rest = [m for m in modalities if m not in stats]
        if rest:  # what the model sees before normalisation, simulated clouds excepted
            samples = ReaderSubset(
                split.evaluation_reader(), split.indices, self._pipeline(False, statistics=True)
            )
            stats |= compute_statistics(samples, rest, self.statistics_samples, self.seed)
        return T.Normalize(stats)

    # ---- datasets --------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        cfg = self.cfg
        splits = self._splits()
        where = self._where()
        for name in ("train", "val", "test"):
            if len(splits[name].indices) == 0:
                raise ConfigError(f"data: the {name} split of {where} is empty")
        train = splits["train"]
        reader = train.reader
        self._until_day = _until_day(cfg.until, getattr(reader, "reference_date", None), where)
        missing = [m for m in cfg.modalities if m not in reader.modalities]
        if missing:
            raise ConfigError(
                f"data.modalities: {missing} not in {where} (it has {list(reader.modalities)})"
            )
        for name in ("val", "test"):
            if list(splits[name].reader.class_names) != list(reader.class_names):
                raise ConfigError(
                    f"data: the class lists differ between the training data and the {name} "
                    f"data of {where}; fix one class order (data.classes / data.reader.classes)"
                )
        if set(reader.modalities) != set(cfg.modalities):
            self._keep = functools.partial(_keep_modalities, modalities=tuple(cfg.modalities))
        self.channels = {m: reader.channels[m] for m in cfg.modalities}
        self.class_names = [str(c) for c in reader.class_names]
        counts = reader.label_counts(train.indices)
        self.train_label_counts = torch.as_tensor(np.asarray(counts), dtype=torch.long)
        self.normalize = self._normalization(train)
        self._splits_read = splits
        subsets = [
            ReaderSubset(splits[k].reader, splits[k].indices, self._pipeline(train=k == "train"))
            for k in ("train", "val", "test")
        ]
        self.train, self.val, self.test = subsets

    @property
    def reference_date(self) -> Any:
        """The origin of the training samples' day counts (the training reader's
        ``reference_date``, e.g. 2018-09-01 for PASTIS), None when the reader has none."""
        self.setup()
        return getattr(self._splits_read["train"].reader, "reference_date", None)

    def evaluation_transform(self) -> Transform | None:
        """The transforms a new sample goes through before the model, as the evaluated sets'
        (modality selection, date steps, the training split's normalisation) but without the
        simulated clouds of ``data.eval_drop`` (an evaluation protocol, not the data): what
        ``sitsfusion map`` applies to the windows it reads from imagery."""
        self.setup()
        steps = [] if self._keep is None else [self._keep]
        steps += self._date_steps(train=False, clouds=False)
        if self.normalize is not None:
            steps.append(self.normalize)
        return T.Compose(steps) if steps else None

    def predict_dataset(self, split: str) -> Dataset[Sample]:
        """The samples of ``split`` (``"train"``, ``"val"``, ``"test"`` or ``"all"``) with the
        evaluation transforms only (no augmentation, no temporal dropout, fixed pixels)."""
        if split not in ("train", "val", "test", "all"):
            raise ConfigError(f"split: {split!r} is not one of train, val, test, all")
        self.setup()
        if split in ("val", "test"):
            return getattr(self, split)
        evaluation = self._pipeline(train=False)
        parts = {
            k: ReaderSubset(s.evaluation_reader(), s.indices, evaluation)
            for k, s in self._splits_read.items()
        }
        if split == "train":
            return parts["train"]
        return ConcatDataset([parts[k] for k in ("train", "val", "test")])

    # ---- resumed training ------------------------------------------------------------------

    def _random_training_transforms(self) -> list[T.RandomTransform]:
        transform = None if self.train is None else self.train.transform
        steps = transform.transforms if isinstance(transform, T.Compose) else [transform]
        return [t for t in steps if isinstance(t, T.RandomTransform)]

    def state_dict(self) -> dict[str, Any]:
        """What Lightning stores in a checkpoint for this module: the states of the training
        transforms' generators (temporal dropout, flips, sub-sequences), so that a resumed run
        draws what the uninterrupted one would have. With ``data.num_workers > 0`` the
        (persistent) workers own their generators: a resumed run then continues with other,
        equally random draws."""
        return {"generators": [t.generator_state() for t in self._random_training_transforms()]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        states = state_dict.get("generators", [])
        transforms = self._random_training_transforms()
        if len(states) != len(transforms):
            raise ConfigError(
                f"data: the checkpoint holds {len(states)} random training transforms, this "
                f"config has {len(transforms)}; resume with the config the run started with"
            )
        for transform, state in zip(transforms, states, strict=True):
            transform.set_generator_state(state)

    # ---- loaders ---------------------------------------------------------------------------

    def _loader(self, ds: Dataset[Sample] | None, shuffle: bool) -> DataLoader:
        if ds is None:
            raise RuntimeError("call setup() first")
        # Training only: a last batch of one sample would break BatchNorm; drop it then.
        # Evaluation never drops anything (the reference test loaders do).
        lonely = shuffle and len(ds) % self.cfg.batch_size == 1 and len(ds) > 1  # type: ignore[arg-type]
        return DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            drop_last=lonely,
            num_workers=self.cfg.num_workers,
            collate_fn=collate,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)


def register_datamodule(cls: M) -> M:
    """Class decorator: the data module of :attr:`SITSDataModule.format`."""
    if not cls.format:
        raise TypeError(f"{cls.__name__}: a registered data module needs a format")
    _MODULES[cls.format] = cls
    return cls


def datamodule_formats() -> list[str]:
    """Every format with a data module."""
    return list(_MODULES)


def datamodule_class(fmt: str) -> type[SITSDataModule]:
    """The data module class of format ``fmt``.

    Raises:
        ConfigError: no data module for that format.
    """
    try:
        return _MODULES[fmt]
    except KeyError:
        raise ConfigError(
            f"data.format: {fmt!r} has no data module; formats: {', '.join(_MODULES)}"
        ) from None


def datamodule(cfg: DataConfig, seed: int = 0, target: str = "parcel") -> SITSDataModule:
    """The data module of ``cfg.format`` for ``target`` (see :class:`SITSDataModule`)."""
    return datamodule_class(cfg.format)(cfg, seed=seed, target=target)
