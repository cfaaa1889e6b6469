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

__all__ = ["SITSDataModule", "stratified_split"]

Transform = Callable[[Sample], Sample]


def _keep_modalities(sample: Sample, modalities: tuple[str, ...]) -> Sample:
    """The sample with only ``modalities`` (a two-sensor folder serves S1-only runs too)."""
    return sample.replace(series={m: sample[m] for m in modalities})


def stratified_split(
    labels: Sequence[int], fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Indices of a per-class random split into ``len(fractions)`` parts (e.g. 60/20/20)."""
    labels = np.asarray(labels)
    frac = np.asarray(fractions, dtype=float)
    if frac.min() < 0 or not np.isclose(frac.sum(), 1.0):
        raise ConfigError(f"data.split_fractions: must be >= 0 and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in frac]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        cuts = np.round(np.cumsum(frac)[:-1] * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, cuts), strict=True):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


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
        if target not in ("parcel", "semantic"):
            raise ConfigError(f"task: {target!r} is not 'parcel' or 'semantic'")
        if (target == "semantic") != (cfg.format in ("pastis", "multisenge")) and not (
            target == "parcel" and cfg.format == "pastis"
        ):
            raise ConfigError(
                f"data.format: {cfg.format!r} does not serve the {target!r} task "
                "(semantic: pastis or multisenge; parcel: pastis or pixelset)"
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
        if train and cfg.temporal_dropout:
            steps.append(T.TemporalDropout(p=cfg.temporal_dropout, seed=None))
        if train and cfg.augment:
            steps.append(T.RandomFlipRot90(seed=None))
        for m, length in cfg.subsequence.items():  # evaluation: seeded, reproducible runs
            seed = None if train else self.seed
            steps.append(T.RandomSubsequence(modality=m, length=length, seed=seed))
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
        else:
            self._setup_pixelset()

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

    # ---- loaders ---------------------------------------------------------------------------

    def _loader(self, ds: Dataset[Sample] | None, shuffle: bool) -> DataLoader:
        if ds is None:
            raise RuntimeError("call setup() first")
        return DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            drop_last=False,
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
