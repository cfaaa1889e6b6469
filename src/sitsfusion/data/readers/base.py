"""The reader contract: what every on-disk format offers, under the same names.

A reader is a :class:`torch.utils.data.Dataset` of :class:`~sitsfusion.data.Sample` that also
describes itself, so that data modules, commands and experiments never need to know which
format they read:

* class attributes: :attr:`Reader.format` (the registry name), :attr:`Reader.layout` (one
  line describing the files, used in error messages), :attr:`Reader.tasks` (which of
  ``"parcel"``, ``"semantic"``, ``"panoptic"`` it serves);
* after construction: ``root``, ``modalities``, ``channels`` ``{modality: C}``,
  ``class_names`` (indexed by label), ``num_classes``, ``synthetic``, ``labels`` (``[N]`` class
  per sample, None for dense patch targets), ``groups`` (``[N]`` ``"<region>/<year>"`` or
  None), ``clusters`` (``[N]`` keys of samples that must stay in one split, or None),
  :meth:`Reader.label_counts` and :meth:`Reader.statistics`; every sample of a georeferenced
  format carries ``meta["crs"]`` and ``meta["transform"]``;
* class methods :meth:`Reader.looks_like` and :meth:`Reader.is_synthetic` (cheap checks of a
  folder or file) and :meth:`Reader.open` (the whole dataset, every modality).

Readers register with :func:`register_reader`; :func:`detect_format` names the format of a
folder, :func:`reader_class` returns the class serving a format (and task).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from torch.utils.data import Dataset

from sitsfusion.data.sample import Sample
from sitsfusion.data.statistics import ChannelStatistics
from sitsfusion.errors import ConfigError, DatasetError

__all__ = [
    "TASKS",
    "Indices",
    "PatchReader",
    "Reader",
    "detect_format",
    "format_tasks",
    "is_synthetic",
    "reader_class",
    "reader_formats",
    "register_reader",
    "safe_check",
]

TASKS = ("parcel", "semantic", "panoptic")
"""Tasks a reader can serve: parcel classification, semantic and panoptic segmentation."""

Indices = Sequence[int] | np.ndarray | None
"""Sample positions (None: every sample)."""
R = TypeVar("R", bound="type[Reader]")

BUILTIN_FORMATS = (
    "pastis",
    "multisenge",
    "sen4agrinet",
    "pixelset",
    "jrc",
    "oad",
    "long_table",
    "wide_table",
)
"""The built-in formats in the order they are listed and tried (their readers register when
``sitsfusion.data.readers`` is imported, which its ``__init__`` does for all of them)."""
_REGISTRY: dict[str, list[type[Reader]]] = {}


class Reader(Dataset[Sample], abc.ABC):
    """Base class of every reader (see the module docstring for the contract).

    Subclasses set the class attributes, fill the instance attributes in their constructor
    (or define them as properties) and implement ``__len__``, ``__getitem__`` and
    :meth:`looks_like`.
    """

    format: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str] = ""
    """Display name of the format (``"PASTIS"``, ``"Sen4AgriNet"``)."""
    sample_noun: ClassVar[str] = "samples"
    """What one sample is (``"patches"``, ``"parcels"``), for summaries."""
    catch_all: ClassVar[bool] = False
    """True for a format whose :meth:`looks_like` accepts a whole family (any table): it is
    tried after every other format."""

    root: Path
    modalities: tuple[str, ...]
    channels: dict[str, int]
    class_names: list[str]
    synthetic: bool = False
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    clusters: np.ndarray | None = None

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Sample:
        """Sample ``index``, values as stored (never normalised)."""

    @property
    def num_classes(self) -> int:
        """K, the length of :attr:`class_names`."""
        return len(self.class_names)

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        """``{modality: band names in channel order}`` where the format names its bands."""
        return {}

    def num_channels(self, modality: str) -> int:
        """C of ``modality`` (``channels[modality]``)."""
        try:
            return self.channels[modality]
        except KeyError:
            raise KeyError(
                f"modality {modality!r} not loaded; loaded: {list(self.modalities)}"
            ) from None

    def label_counts(self, indices: Indices = None) -> np.ndarray:
        """int64 ``[K]``: samples per class over ``indices`` (default all; labels < 0, i.e.
        unlabelled samples, are not counted). Dense readers count pixels instead."""
        if self.labels is None:  # a dense reader without per-sample labels: PatchReader counts
            raise TypeError(f"{type(self).__name__} has no per-sample labels to count")
        labels = np.asarray(self.labels, dtype=np.int64)
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64)]
        return np.bincount(labels[labels >= 0], minlength=self.num_classes).astype(np.int64)

    def statistics(self, indices: Indices = None) -> ChannelStatistics | None:
        """``{modality: (mean [C], std [C])}`` the format publishes for the samples
        ``indices`` (default all), or None: then compute them from the samples
        (:func:`~sitsfusion.data.statistics.compute_statistics`). Modalities missing from the
        result are computed too."""
        return None

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        """``{modality: dates [T]}`` of sample ``index``: ``datetime64[D]`` calendar dates, or
        int64 date indices for a format without calendar dates. This default reads the sample;
        readers that know the dates from their metadata answer without reading values."""
        sample = self[index]
        ref = sample.meta.get("reference_date")
        out = {}
        for m, ts in sample.series.items():
            days = ts.dates.cpu().numpy().astype(np.int64)
            if ref is None:
                out[m] = days
            else:
                out[m] = np.datetime64(str(ref), "D") + days.astype("timedelta64[D]")
        return out

    @classmethod
    def open(cls, root: str | Path, **options: Any) -> Reader:
        """The whole dataset at ``root``: every modality, whole patches, the reader's other
        defaults (what ``sitsfusion info`` / ``show`` / ``aggregate`` read). ``options`` go to
        the constructor."""
        return cls(root, **options)  # type: ignore[call-arg]

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        """Whether ``root`` is laid out in this format, from file names (or a table's header)
        only; never raises. A reader that is no format of its own (e.g. several readers
        concatenated) recognises nothing; :func:`register_reader` requires a format's own."""
        return False

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        """Whether the dataset at ``root`` was written by sitsfusion's simulator, from its
        metadata only (False when the format cannot say)."""
        return False


class PatchReader(Reader):
    """A reader of image patches with dense targets (``semantic`` ``[H, W]``).

    Adds :attr:`patch_ids` (the format's own patch identifiers), :meth:`patch` (one whole
    patch, by that id) and :attr:`legend` (class ids, names and map colours). Its
    :meth:`label_counts` counts pixels.
    """

    sample_noun: ClassVar[str] = "patches"
    patch_ids: list[Any]

    @abc.abstractmethod
    def patch(self, patch_id: str | int) -> Sample:
        """The sample of the whole patch ``patch_id`` (a :attr:`patch_ids` value or its text).

        Raises:
            DatasetError: no such patch in this dataset.
        """

    @property
    @abc.abstractmethod
    def legend(self) -> Any:
        """A :class:`~sitsfusion.data.taxonomy.Nomenclature` of the semantic ids (for maps)."""

    @property
    def reflectance_factor(self) -> float:
        """What multiplies the optical values into surface reflectance (for figures): 1e-4 for
        Sentinel-2 L2A digital numbers, as PASTIS and MultiSenGE store them."""
        return 1e-4

    @abc.abstractmethod
    def label_counts(self, indices: Indices = None) -> np.ndarray:
        """int64 ``[K]``: pixels per class id over the samples ``indices`` (default all)."""


def register_reader(cls: R) -> R:
    """Class decorator: add a reader to the registry under its :attr:`Reader.format`.

    Several classes may serve one format (e.g. PASTIS patches and PASTIS parcels); the first
    registered is the format's main reader.
    """
    if not cls.format or not cls.layout:
        raise TypeError(f"{cls.__name__}: a registered reader needs a format and a layout")
    if cls.looks_like.__func__ is Reader.looks_like.__func__:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: a registered reader needs its own looks_like")
    unknown = [t for t in cls.tasks if t not in TASKS]
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown task(s) {unknown}; tasks are {TASKS}")
    classes = _REGISTRY.setdefault(cls.format, [])
    if cls not in classes:
        classes.append(cls)
    return cls


def _rank(fmt: str) -> int:
    """Built-in formats in the order of :data:`BUILTIN_FORMATS`, then the user's."""
    return BUILTIN_FORMATS.index(fmt) if fmt in BUILTIN_FORMATS else len(BUILTIN_FORMATS)


def reader_formats() -> list[str]:
    """Every registered format: the built-in ones in a fixed order, then the user's."""
    return sorted(_REGISTRY, key=_rank)  # stable: user formats keep their registration order


def format_tasks(fmt: str) -> tuple[str, ...]:
    """The tasks the readers of format ``fmt`` serve together (empty for an unknown format)."""
    classes = _REGISTRY.get(fmt, [])
    return tuple(t for t in TASKS if any(t in c.tasks for c in classes))


def reader_class(fmt: str, task: str | None = None) -> type[Reader]:
    """The reader class of format ``fmt`` (serving ``task`` when given).

    Raises:
        ConfigError: an unknown format, or no reader of that format serves ``task``.
    """
    classes = _REGISTRY.get(fmt)
    if not classes:
        raise ConfigError(f"format {fmt!r}: unknown; known formats: {', '.join(reader_formats())}")
    if task is None:
        return classes[0]
    for cls in classes:
        if task in cls.tasks:
            return cls
    serving = [f for f in reader_formats() if any(task in r.tasks for r in _REGISTRY[f])]
    raise ConfigError(
        f"format {fmt!r} does not serve the {task!r} task (formats that do: {', '.join(serving)})"
    )


def detect_format(root: str | Path) -> str:
    """The format of the dataset at ``root`` (a folder, or a table file): the first registered
    reader whose :meth:`Reader.looks_like` accepts it, catch-all formats last.

    Raises:
        DatasetError: ``root`` does not exist, or matches no registered layout (one line
            naming the layouts looked for).
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(root, "does not exist")
    formats = reader_formats()
    for fmt in sorted(formats, key=lambda f: _REGISTRY[f][0].catch_all):  # stable
        if _REGISTRY[fmt][0].looks_like(root):
            return fmt
    looked = "; ".join(f"{fmt}: {_REGISTRY[fmt][0].layout}" for fmt in formats)
    raise DatasetError(root, f"no known dataset layout; looked for {looked}")


def is_synthetic(root: str | Path) -> bool:
    """True for a dataset written by sitsfusion's simulator (its metadata says so); False for
    anything else, including a path that is no dataset."""
    try:
        fmt = detect_format(root)
    except DatasetError:
        return False
    return reader_class(fmt).is_synthetic(root)


def safe_check(check: Callable[[], bool]) -> bool:
    """``check()``, False when it raises an ``OSError`` or ``ValueError`` (for
    :meth:`Reader.looks_like` / :meth:`Reader.is_synthetic`, which must never raise)."""
    try:
        return bool(check())
    except (OSError, ValueError):
        return False
