"""Lightning data module for parcel classification and semantic segmentation.

Training, validation and test sets come from the same reader; validation and test are
normalised with the training folds' statistics, sample their pixels deterministically, are
never shuffled and never drop their last batch (the reference scripts do both).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from sitsfusion.config import ConfigError, DataConfig
from sitsfusion.data import transforms as T
from sitsfusion.data.sample import Sample, collate
from sitsfusion.data.splits import group_split, kfold_split, match_groups, stratified_split

__all__ = ["SITSDataModule", "stratified_split"]

_SEMANTIC_FORMATS = ("pastis", "multisenge", "sen4agrinet")
_PARCEL_FORMATS = ("pastis", "pixelset", "long_table", "wide_table", "oad")
_PANOPTIC_FORMATS = ("pastis",)
_NORM_SAMPLES = 2000  # training samples read to estimate z-score statistics

Transform = Callable[[Sample], Sample]


def _keep_modalities(sample: Sample, modalities: tuple[str, ...]) -> Sample:
    """The sample with only ``modalities`` (a two-sensor folder serves S1-only runs too)."""
    return sample.replace(series={m: sample[m] for m in modalities})


class SITSDataModule(L.LightningDataModule):
    """Samples of every modality in ``cfg.modalities`` for one task.

    Args:
        cfg: the data section of an experiment config.
        seed: seed of the evaluation pixel sampling and sub-sequences.
        target: ``"parcel"`` (pixel sets, label per parcel) or ``"semantic"`` (patches, a
            class per pixel).

    After :meth:`setup`: ``channels`` ``{modality: C}``, ``class_names``, ``num_classes`` and
    ``train_label_counts`` (parcels or pixels per class, for class weights).
    """

    def __init__(self, cfg: DataConfig, seed: int = 0, target: str = "parcel") -> None:
        super().__init__()
        if target not in ("parcel", "semantic", "panoptic"):
            raise ConfigError(f"task: {target!r} is not 'parcel', 'semantic' or 'panoptic'")
        allowed = {
            "semantic": _SEMANTIC_FORMATS,
            "parcel": _PARCEL_FORMATS,
            "panoptic": _PANOPTIC_FORMATS,
        }[target]
        if cfg.format not in allowed:
            raise ConfigError(
                f"data.format: {cfg.format!r} does not serve the {target!r} task "
                f"(semantic: {', '.join(_SEMANTIC_FORMATS)}; parcel: {', '.join(_PARCEL_FORMATS)}; "
                f"panoptic: {', '.join(_PANOPTIC_FORMATS)})"
            )
        self.cfg = cfg
        self.seed = seed
        self.target = target
        self.train: Dataset[Sample] | None = None
        self.val: Dataset[Sample] | None = None
        self.test: Dataset[Sample] | None = None
        self.channels: dict[str, int] = {}
        self.class_names: list[str] = []
        self.train_label_counts: torch.Tensor | None = None
        self._eval_parts: dict[str, Dataset[Sample]] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

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

    def _transform(self, train: bool) -> Transform | None:
        """Temporal dropout and sub-sequences (train) then resampling onto the reference dates."""
        steps: list[Transform] = []
        cfg = self.cfg
        if cfg.months is not None:  # seed 004, Sec. VI: monthly medians before anything else
            from sitsfusion.data.binning import MonthlyMedian

            steps.append(MonthlyMedian(months=cfg.months))
        if train and cfg.temporal_dropout:
            steps.append(T.TemporalDropout(p=cfg.temporal_dropout, seed=None))
        if train and cfg.augment:
            steps.append(T.RandomFlipRot90(seed=None))
        for m, length in cfg.subsequence.items():  # evaluation: seeded, reproducible runs
            seed = None if train else self.seed
            steps.append(T.RandomSubsequence(modality=m, length=length, seed=seed))
        if not train:  # simulated cloud cover on the evaluated sets (seeded: reproducible)
            for m, fraction in cfg.eval_drop.items():
                steps.append(T.DropObservations(modality=m, fraction=fraction, seed=self.seed))
        # resampling after the date transforms, so that every modality ends on the same dates
        for src, tgt in self._resample_map().items():
            steps.append(
                functools.partial(T.resample, source=src, target=tgt, method=cfg.resample_method)
            )
        return T.Compose(steps) if steps else None

    # ---- datasets --------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        if self.cfg.format == "pastis":
            self._setup_pastis()
        elif self.cfg.format == "multisenge":
            self._setup_multisenge()
        elif self.cfg.format == "pixelset":
            self._setup_pixelset()
        else:
            self._setup_pool()

    def _setup_pastis(self) -> None:
        from sitsfusion.data.readers.pastis import PASTIS

        cfg = self.cfg
        common = {
            "modalities": tuple(cfg.modalities),
            "target": self.target,
            "n_pixels": cfg.n_pixels,
            "cache": cfg.cache,
            "norm_folds": tuple(cfg.train_folds),
            "seed": self.seed,
        }
        self.train = PASTIS(
            cfg.root,
            folds=cfg.train_folds,
            sample_pixels="random",
            transform=self._transform(train=True),
            **common,
        )
        evaluation = {"sample_pixels": "fixed", "transform": self._transform(train=False)}
        self.val = PASTIS(cfg.root, folds=cfg.val_folds, **evaluation, **common)
        self.test = PASTIS(cfg.root, folds=cfg.test_folds, **evaluation, **common)
        self.channels = {m: self.train.num_channels(m) for m in cfg.modalities}
        self.class_names = list(self.train.classes)
        if self.target == "parcel":
            labels = torch.tensor(self.train.parcels["label"].to_numpy())
            self.train_label_counts = torch.bincount(labels, minlength=self.num_classes)
        else:  # pixels per class over the training patches (annotations only)
            from sitsfusion.data.readers.pastis import load_target

            counts = np.zeros(self.num_classes, dtype=np.int64)
            for pid in self.train.patch_ids:
                sem = load_target(cfg.root, pid).ravel()
                counts += np.bincount(sem, minlength=self.num_classes)[: self.num_classes]
            self.train_label_counts = torch.from_numpy(counts)

    def _setup_multisenge(self) -> None:
        from sitsfusion.data.readers import multisenge as msg

        cfg = self.cfg
        common = {"modalities": tuple(cfg.modalities), "classes": cfg.class_scheme}
        every = msg.MultiSenGE(cfg.root, **common)
        paper = msg.PAPER_SPLIT
        split = msg.tile_split(
            every.patch_ids,
            val_tiles=cfg.val_tiles if cfg.val_tiles is not None else paper["val"],
            test_tiles=cfg.test_tiles if cfg.test_tiles is not None else paper["test"],
            train_tiles=cfg.train_tiles if cfg.train_tiles is not None else paper["train"],
        )
        empty = [k for k in ("train", "val", "test") if not split[k]]
        if empty:
            raise ConfigError(
                f"data.*_tiles: no patch of {cfg.root} falls in the {empty} split(s); tiles "
                f"present: {sorted({msg.parse_patch_id(p)[0] for p in every.patch_ids})}"
            )
        train_raw = msg.MultiSenGE(cfg.root, patches=split["train"], **common)
        stats = train_raw.compute_norm()  # seed 003 Sec. 3.4: multitemporal z-score, train set
        self.train, self.val, self.test = (
            msg.MultiSenGE(
                cfg.root,
                patches=split[k],
                norm=stats,
                transform=self._transform(train=k == "train"),
                **common,
            )
            for k in ("train", "val", "test")
        )
        self.channels = {m: msg.N_BANDS[m] for m in cfg.modalities}
        self.class_names = msg.class_names(cfg.class_scheme)
        self.train_label_counts = torch.from_numpy(train_raw.class_counts())

    def _setup_pixelset(self) -> None:
        from sitsfusion.data.readers.pixelset import PixelSetDataset

        cfg = self.cfg
        kwargs = {
            "nomenclature": cfg.nomenclature,
            "classes": cfg.classes,
            "modality": cfg.modalities[0],
            "n_pixels": cfg.n_pixels,
            "duplicate_dates": cfg.duplicate_dates,
            "reference_date": cfg.reference_date,
            "seed": self.seed,
        }
        keep = functools.partial(_keep_modalities, modalities=tuple(cfg.modalities))

        def dataset(root: str, train: bool, ids: Sequence[str] | None = None) -> Dataset[Sample]:
            transform = self._transform(train)
            return PixelSetDataset(
                Path(root),
                ids=ids,
                sample_pixels="random" if train else "fixed",
                transform=keep if transform is None else T.Compose([keep, transform]),
                **kwargs,
            )

        if cfg.train_roots:
            if not (cfg.val_roots and cfg.test_roots):
                raise ConfigError("data: give train_roots, val_roots and test_roots together")
            if cfg.reference_date is None and len(cfg.train_roots + cfg.val_roots) > 1:
                raise ConfigError(
                    "data.reference_date: several roots need one common time origin, e.g. "
                    "'2018-10-01'"
                )
            parts = {
                split: [dataset(r, split == "train") for r in roots]
                for split, roots in (
                    ("train", cfg.train_roots),
                    ("val", cfg.val_roots),
                    ("test", cfg.test_roots),
                )
            }
            self.train, self.val, self.test = (ConcatDataset(parts[k]) for k in parts)
            first = parts["train"][0]
            train_labels = np.concatenate([np.asarray(d.labels) for d in parts["train"]])
        else:
            first = PixelSetDataset(Path(cfg.root), **kwargs)
            split = stratified_split(first.labels, cfg.split_fractions, cfg.split_seed)
            ids = list(first.ids)
            train_idx, val_idx, test_idx = split
            self.train = dataset(cfg.root, True, [ids[i] for i in train_idx])
            self.val = dataset(cfg.root, False, [ids[i] for i in val_idx])
            self.test = dataset(cfg.root, False, [ids[i] for i in test_idx])
            train_labels = np.asarray(first.labels)[train_idx]
        missing = [m for m in cfg.modalities if m not in first.modalities]
        if missing:
            raise ConfigError(
                f"data.modalities: {missing} not in {cfg.root or cfg.train_roots[0]} "
                f"(it has {list(first.modalities)})"
            )
        self.channels = {m: first.num_channels(m) for m in cfg.modalities}
        self.class_names = [str(c) for c in first.class_codes]
        self.train_label_counts = torch.bincount(
            torch.as_tensor(train_labels, dtype=torch.long), minlength=self.num_classes
        )

    # ---- table, OAD and Sen4AgriNet datasets: one pool, split by indices -----------------

    def _reader(self, root: str) -> Dataset[Sample]:
        """The untransformed dataset of ``root`` for the table / OAD / Sen4AgriNet formats."""
        cfg = self.cfg
        options = dict(cfg.reader)
        fmt = cfg.format
        try:
            if fmt == "long_table":
                from sitsfusion.data.readers.tables import LongTableDataset

                options.setdefault("modality", cfg.modalities[0])
                return LongTableDataset(root, **options)
            if fmt == "wide_table":
                from sitsfusion.data.readers.tables import WideTableDataset

                options.setdefault("modality", cfg.modalities[0])
                return WideTableDataset(root, **options)
            if fmt == "oad":
                from sitsfusion.data.oad import OADDataset

                options.setdefault("modalities", cfg.modalities)
                if cfg.classes is not None:
                    options.setdefault("classes", cfg.classes)
                return OADDataset(root, **options)
            from sitsfusion.data.readers.sen4agrinet import Sen4AgriNet

            if cfg.nomenclature is not None:
                options.setdefault("nomenclature", cfg.nomenclature)
            return Sen4AgriNet(root, target=self.target, **options)
        except TypeError as exc:  # an unknown or duplicated data.reader option
            if "keyword argument" not in str(exc) and "multiple values" not in str(exc):
                raise
            raise ConfigError(f"data.reader: {exc}") from None

    @staticmethod
    def _info(ds: Dataset[Sample], name: str) -> np.ndarray | None:
        value = getattr(ds, name, None)
        return None if value is None else np.asarray(value)

    def _split(self, ds: Dataset[Sample], n: int) -> list[np.ndarray]:
        """Train / val / test indices of one pool by ``data.split`` (and ``data.groups``)."""
        cfg = self.cfg
        labels = self._info(ds, "labels")
        labels = np.zeros(n, dtype=np.int64) if labels is None else labels
        groups, clusters = self._info(ds, "groups"), self._info(ds, "clusters")
        keep = np.arange(n)
        if cfg.groups is not None or cfg.split == "groups":
            if groups is None:
                raise ConfigError(
                    f"data.groups: {cfg.root} has no region / year groups (data.format "
                    f"{cfg.format!r}); use split: stratified or kfold"
                )
            if cfg.groups is not None:
                keep = keep[match_groups(groups, cfg.groups)]
                if keep.size == 0:
                    raise ConfigError(
                        f"data.groups: none of {cfg.groups} in {cfg.root}; groups present: "
                        f"{sorted(set(groups.tolist()))}"
                    )
        sub_clusters = None if clusters is None else clusters[keep]
        if cfg.split == "groups":
            if not cfg.train_groups or not cfg.test_groups:
                raise ConfigError("data.split: 'groups' needs train_groups and test_groups")
            f_train, f_val = cfg.split_fractions[0], cfg.split_fractions[1]
            parts = group_split(
                groups[keep],
                labels[keep],
                cfg.train_groups,
                cfg.test_groups,
                cfg.val_groups,
                val_fraction=f_val / (f_train + f_val),
                seed=cfg.split_seed,
                clusters=sub_clusters,
            )
        elif cfg.split == "kfold":
            parts = kfold_split(labels[keep], cfg.n_folds, cfg.fold, cfg.split_seed, sub_clusters)
        else:
            parts = stratified_split(
                labels[keep], cfg.split_fractions, cfg.split_seed, sub_clusters
            )
        return [keep[p] for p in parts]

    def _setup_pool(self) -> None:
        """Read one dataset (or train / test roots), split it, wrap the parts as subsets."""
        cfg = self.cfg
        if cfg.train_roots:  # given files: the test file(s) as they are, val from training
            if not cfg.test_roots:
                raise ConfigError("data.train_roots: give test_roots too")
            if cfg.split != "stratified" or cfg.groups is not None:
                raise ConfigError(
                    "data.train_roots: the roots already split the data; data.split "
                    f"{cfg.split!r} / data.groups apply to a single data.root"
                )
            train_pool = _concat([self._reader(r) for r in cfg.train_roots])
            test_pool = _concat([self._reader(r) for r in cfg.test_roots])
            if cfg.val_roots:
                val_pool = _concat([self._reader(r) for r in cfg.val_roots])
                train_idx, val_idx = np.arange(len(train_pool)), np.arange(len(val_pool))
            else:
                labels = self._info(train_pool, "labels")
                clusters = self._info(train_pool, "clusters")
                f_train, f_val = cfg.split_fractions[0], cfg.split_fractions[1]
                frac = f_val / (f_train + f_val)
                train_idx, val_idx = stratified_split(
                    labels, [1.0 - frac, frac], cfg.split_seed, clusters
                )
                val_pool = train_pool
            pools = [(train_pool, train_idx), (val_pool, val_idx)]
            pools.append((test_pool, np.arange(len(test_pool))))
            for other in (val_pool, test_pool):
                if list(getattr(other, "class_names", [])) != list(train_pool.class_names):
                    raise ConfigError(
                        f"data.test_roots: the class lists differ between {cfg.train_roots} "
                        f"and the other roots; pass data.reader.classes to fix one order"
                    )
        else:
            pool = self._reader(cfg.root)
            parts = self._split(pool, len(pool))
            pools = [(pool, idx) for idx in parts]
        where = cfg.train_roots + cfg.test_roots if cfg.train_roots else cfg.root
        for (_, idx), name in zip(pools, ("train", "val", "test"), strict=True):
            if len(idx) == 0:
                raise ConfigError(f"data: the {name} split of {where} is empty")
        train_pool, train_idx = pools[0]
        probe = _IndexSubset(train_pool, train_idx[:1], self._transform(train=False))[0]
        missing = [m for m in cfg.modalities if m not in probe.series]
        if missing:
            raise ConfigError(
                f"data.modalities: {missing} not in {cfg.root or cfg.train_roots[0]} "
                f"(it has {list(probe.series)})"
            )
        self.channels = {m: probe[m].num_channels for m in cfg.modalities}
        norm: Transform | None = None
        if cfg.normalize == "zscore":
            stats = _zscore_stats(
                _IndexSubset(train_pool, train_idx, self._transform(train=False)),
                cfg.modalities,
                self.seed,
            )
            norm = functools.partial(T.normalize_zscore, stats=stats)
        keep = functools.partial(_keep_modalities, modalities=tuple(cfg.modalities))
        subsets = []
        for (pool, idx), train in zip(pools, (True, False, False), strict=True):
            steps = [keep, self._transform(train), norm]
            subsets.append(_IndexSubset(pool, idx, T.Compose([s for s in steps if s])))
        self.train, self.val, self.test = subsets
        evaluation = T.Compose([s for s in (keep, self._transform(False), norm) if s])
        self._eval_parts = {
            name: _IndexSubset(pool, idx, evaluation)
            for (pool, idx), name in zip(pools, ("train", "val", "test"), strict=True)
        }
        self.class_names = [str(c) for c in train_pool.class_names]
        if self.target == "semantic":
            counts = train_pool.label_counts(train_idx)
        else:
            counts = np.bincount(
                np.asarray(train_pool.labels)[train_idx], minlength=self.num_classes
            )
        self.train_label_counts = torch.as_tensor(counts, dtype=torch.long)

    def predict_dataset(self, split: str) -> Dataset[Sample]:
        """The samples of ``split`` (``"train"``, ``"val"``, ``"test"`` or ``"all"``) with the
        evaluation transforms only (no augmentation, no temporal dropout)."""
        self.setup()
        if split in ("val", "test"):
            return getattr(self, split)
        if split not in ("train", "all"):
            raise ConfigError(f"split: {split!r} is not one of train, val, test, all")
        if self._eval_parts is None:
            raise ConfigError(
                f"split: {split!r} is available for the table, OAD and Sen4AgriNet formats; "
                f"for {self.cfg.format!r} use val or test (or point the test folds at the data)"
            )
        if split == "train":
            return self._eval_parts["train"]
        return ConcatDataset([self._eval_parts[k] for k in ("train", "val", "test")])

    # ---- loaders ---------------------------------------------------------------------------

    def _loader(self, ds: Dataset[Sample] | None, shuffle: bool) -> DataLoader:
        if ds is None:
            raise RuntimeError("call setup() first")
        # Training only: a last batch of one sample would break BatchNorm; drop it then.
        # Evaluation never drops anything (the reference test loaders do).
        lonely = shuffle and len(ds) % self.cfg.batch_size == 1 and len(ds) > 1
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


class _IndexSubset(Dataset[Sample]):
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


class _Pool(ConcatDataset):
    """Several readers of one format as one dataset, with their per-sample information."""

    def __init__(self, parts: list[Dataset[Sample]]) -> None:
        super().__init__(parts)
        self.class_names = list(getattr(parts[0], "class_names", []))
        for name in ("labels", "groups", "clusters"):
            values = [getattr(p, name, None) for p in parts]
            if all(v is not None for v in values):
                setattr(self, name, np.concatenate([np.asarray(v) for v in values]))

    def label_counts(self, indices: np.ndarray) -> np.ndarray:
        """Pixels per class over the samples ``indices`` (semantic readers)."""
        indices = np.asarray(indices, dtype=np.int64)
        part = np.searchsorted(self.cumulative_sizes, indices, side="right")
        starts = np.r_[0, self.cumulative_sizes[:-1]]
        counts = [
            np.asarray(ds.label_counts(indices[part == k] - starts[k]))
            for k, ds in enumerate(self.datasets)
        ]
        return np.sum(counts, axis=0)


def _concat(parts: list[Dataset[Sample]]) -> Dataset[Sample]:
    return parts[0] if len(parts) == 1 else _Pool(parts)


def _zscore_stats(
    ds: Dataset[Sample], modalities: Sequence[str], seed: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel mean / std over (up to ``_NORM_SAMPLES``) training samples, all dates and
    pixels (padding and masked observations excluded)."""
    rng = np.random.default_rng(seed)
    n = len(ds)
    picks = rng.permutation(n)[:_NORM_SAMPLES] if n > _NORM_SAMPLES else np.arange(n)
    sums: dict[str, list[torch.Tensor]] = {}
    for i in picks:
        sample = ds[int(i)]
        for m in modalities:
            v = sample[m].values.double()  # [T, C, *]
            x = v.transpose(0, 1).reshape(v.shape[1], -1)  # [C, T·pixels]
            acc = sums.setdefault(m, [torch.zeros(v.shape[1], dtype=torch.float64)] * 3)
            sums[m] = [acc[0] + x.shape[1], acc[1] + x.sum(1), acc[2] + x.square().sum(1)]
    stats = {}
    for m, (count, total, squares) in sums.items():
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        stats[m] = (mean.float(), torch.where(std > 0, std, torch.ones_like(std)).float())
    return stats
