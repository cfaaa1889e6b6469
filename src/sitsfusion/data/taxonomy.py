"""Class nomenclatures and the FAO-ICC crop taxonomy, kept as data (``nomenclatures/``), not code.

* :class:`Nomenclature` / :func:`load_nomenclature`: a dataset's class list
  (``nomenclatures/<name>.json``), optionally with each class's FAO-ICC codes (``"faoicc"``).
* :class:`CropTaxonomy` / :func:`load_faoicc`: the Sen4AgriNet customisation of the FAO
  Indicative Crop Classification (seed 004, Sec. V-A, Fig. 2; ``nomenclatures/faoicc.csv``):
  9 groups (100..900), classes and subclasses, 168 entries in all.
* :func:`encode_codes`: FAO-ICC code rasters → class ids of a nomenclature.
* :func:`select_common_classes`: the class selection of seed 004, Sec. VI ("common labels
  forming 99.9 % of the data").

See ``docs/taxonomy.md``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_EXCLUDE",
    "LEVELS",
    "CropTaxonomy",
    "Level",
    "Nomenclature",
    "encode_codes",
    "load_faoicc",
    "load_nomenclature",
    "select_common_classes",
]

Level = Literal["group", "class", "subclass"]
#: Hierarchy levels, coarse to fine (seed 004, Sec. V-A: the FAO-ICC "Order" level was folded
#: into "Subclass").
LEVELS: tuple[str, ...] = ("group", "class", "subclass")

# Seed 004, Sec. VII: "Sen4AgriNet comes with a total of 168 labels"; 0 marks background
# (pixels outside any declared parcel) and is not an entry of the table.
_BACKGROUND_CODE = 0
_MAX_LISTED = 20  # how many offending codes an error message lists


def _fmt_codes(codes: Iterable[int]) -> str:
    codes = [int(c) for c in codes]
    head = ", ".join(str(c) for c in codes[:_MAX_LISTED])
    more = f", … ({len(codes)} in all)" if len(codes) > _MAX_LISTED else ""
    return f"[{head}{more}]"


@dataclass(frozen=True)
class Nomenclature:
    """A class list: ids, names, display colours, and which ids are background / void.

    Attributes:
        name: short name (``"pastis"``).
        ids: class ids in file order.
        names: class names, aligned with ``ids``.
        colors: ``#rrggbb`` colours, aligned with ``ids``.
        background: id of the background class, or None.
        void: id of the void / ignored class, or None.
        faoicc: per class (aligned with ``ids``), the FAO-ICC codes it covers (see
            :func:`encode_codes`); None when the nomenclature has no FAO-ICC remapping. A code
            may be listed by one class only (otherwise encoding would be ambiguous).
    """

    name: str
    ids: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...]
    background: int | None = None
    void: int | None = None
    faoicc: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.faoicc is None:
            return
        faoicc = tuple(tuple(int(c) for c in codes) for codes in self.faoicc)
        if len(faoicc) != len(self.ids):
            raise ValueError(
                f"nomenclature {self.name!r}: faoicc has {len(faoicc)} entries for "
                f"{len(self.ids)} classes"
            )
        owner: dict[int, int] = {}
        for class_id, codes in zip(self.ids, faoicc, strict=True):
            for code in codes:
                if code in owner:
                    raise ValueError(
                        f"nomenclature {self.name!r}: FAO-ICC code {code} is listed by class "
                        f"{owner[code]} and class {class_id}; a code may map to one class only"
                    )
                owner[code] = class_id
        object.__setattr__(self, "faoicc", faoicc)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def crop_ids(self) -> tuple[int, ...]:
        """Ids that are neither background nor void (PASTIS: 1..18)."""
        return tuple(i for i in self.ids if i not in (self.background, self.void))

    def name_of(self, class_id: int) -> str:
        return self.names[self.ids.index(int(class_id))]

    def unknown_ids(self, values: np.ndarray) -> np.ndarray:
        """The distinct values of ``values`` that are not class ids of this nomenclature."""
        present = np.unique(np.asarray(values))
        return present[~np.isin(present, np.asarray(self.ids))]


@cache
def load_nomenclature(name: str) -> Nomenclature:
    """Load a packaged nomenclature by name (``"pastis"``).

    Raises:
        KeyError: no such nomenclature.
        ValueError: some classes carry a ``"faoicc"`` list and others do not, or a code is
            listed by two classes.
    """
    files = resources.files("sitsfusion.data") / "nomenclatures"
    path = files / f"{name}.json"
    if not path.is_file():
        known = sorted(
            p.name.removesuffix(".json") for p in files.iterdir() if p.name.endswith(".json")
        )
        raise KeyError(f"unknown nomenclature {name!r}; known: {known}")
    spec = json.loads(path.read_text())
    classes = spec["classes"]
    with_codes = ["faoicc" in c for c in classes]
    faoicc: tuple[tuple[int, ...], ...] | None = None
    if any(with_codes):
        missing = [c["id"] for c, has in zip(classes, with_codes, strict=True) if not has]
        if missing:
            raise ValueError(f"{path}: classes {missing} have no 'faoicc' list (others do)")
        faoicc = tuple(tuple(int(code) for code in c["faoicc"]) for c in classes)
    return Nomenclature(
        name=spec["name"],
        ids=tuple(int(c["id"]) for c in classes),
        names=tuple(c["name"] for c in classes),
        colors=tuple(c["color"] for c in classes),
        background=spec.get("background"),
        void=spec.get("void"),
        faoicc=faoicc,
    )


@dataclass(frozen=True)
class CropTaxonomy:
    """A hierarchical crop code table (the FAO-ICC customisation of seed 004, Sec. V-A).

    Codes are positive integers; 0 is background and is not an entry. Groups have no parent,
    classes have a group as parent, subclasses a class.

    Attributes:
        codes: entry codes, ascending.
        names: English names, aligned with ``codes``.
        levels: ``"group"`` / ``"class"`` / ``"subclass"``, aligned with ``codes``.
        parents: parent code (None for groups), aligned with ``codes``.
    """

    codes: tuple[int, ...]
    names: tuple[str, ...]
    levels: tuple[str, ...]
    parents: tuple[int | None, ...]
    # Lookup tables indexed by code (0..max code): -1 = not a code; [0] = 0 (background).
    _lut: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _index: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.codes)
        if not (len(self.names) == len(self.levels) == len(self.parents) == n):
            raise ValueError("codes, names, levels and parents must have the same length")
        index = {int(c): i for i, c in enumerate(self.codes)}
        if len(index) != n:
            raise ValueError("duplicate codes in the taxonomy")
        if any(c <= 0 for c in index):
            raise ValueError("codes must be positive (0 is background)")
        if list(index) != sorted(index):
            raise ValueError("codes must be in ascending order")
        expected_parent = {"group": None, "class": "group", "subclass": "class"}
        for code, level, parent in zip(self.codes, self.levels, self.parents, strict=True):
            if level not in expected_parent:
                raise ValueError(f"code {code}: unknown level {level!r}; expected {LEVELS}")
            want = expected_parent[level]
            if want is None:
                if parent is not None:
                    raise ValueError(f"group {code} has a parent ({parent})")
                continue
            if parent not in index:
                raise ValueError(f"{level} {code}: parent {parent} is not in the taxonomy")
            if self.levels[index[parent]] != want:
                raise ValueError(f"{level} {code}: parent {parent} is not a {want}")
        object.__setattr__(self, "_index", index)
        size = max(index, default=0) + 1
        lut = {}
        for level in LEVELS:
            table = np.full(size, -1, dtype=np.int64)
            table[_BACKGROUND_CODE] = _BACKGROUND_CODE
            for code in index:
                table[code] = self._ancestor_at(code, level)
            lut[level] = table
        object.__setattr__(self, "_lut", lut)

    # -- single codes -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int | np.integer) and int(code) in self._index

    def _position(self, code: int) -> int:
        try:
            return self._index[int(code)]
        except KeyError:
            raise KeyError(f"{code} is not a code of the taxonomy") from None

    def name_of(self, code: int) -> str:
        """English name of ``code`` (KeyError if unknown)."""
        return self.names[self._position(code)]

    def level_of(self, code: int) -> str:
        """``"group"``, ``"class"`` or ``"subclass"`` (KeyError if unknown)."""
        return self.levels[self._position(code)]

    def parent_of(self, code: int) -> int | None:
        """Parent code, None for a group (KeyError if unknown)."""
        return self.parents[self._position(code)]

    def lineage(self, code: int) -> tuple[int, ...]:
        """``code`` and its ancestors, finest first (``435 → (435, 430, 400)``)."""
        chain = [int(code)]
        parent = self.parent_of(code)
        while parent is not None:
            chain.append(parent)
            parent = self.parent_of(parent)
        return tuple(chain)

    def children(self, code: int) -> tuple[int, ...]:
        """Direct children of ``code``, ascending (``430 → (431, …, 439)``)."""
        self._position(code)
        return tuple(c for c, p in zip(self.codes, self.parents, strict=True) if p == int(code))

    def groups(self) -> tuple[int, ...]:
        """The group codes, ascending (``(100, 200, …, 900)``)."""
        return tuple(c for c, lv in zip(self.codes, self.levels, strict=True) if lv == "group")

    def _ancestor_at(self, code: int, level: str) -> int:
        # The coarsest-first rank of ``level``; a code coarser than ``level`` is kept.
        rank = LEVELS.index(level)
        for c in self.lineage(code):
            if LEVELS.index(self.level_of(c)) <= rank:
                return c
        raise AssertionError("unreachable: every lineage ends with a group")

    # -- arrays -------------------------------------------------------------------------------

    def _lookup(self, values: np.ndarray | Iterable[int], level: str) -> np.ndarray:
        """``lut[level][values]`` with -1 for anything that is not 0 or a code; int64."""
        v = np.asarray(values)
        if v.dtype.kind not in "iu":
            raise TypeError(f"crop codes must be integers, got dtype {v.dtype}")
        table = self._lut[level]
        inside = v <= table.size - 1
        if v.dtype.kind == "i":
            inside &= v >= 0
        idx = np.where(inside, v, 0).astype(np.intp, copy=False)
        return np.where(inside, table[idx], -1)

    def is_known(self, values: np.ndarray | Iterable[int]) -> np.ndarray:
        """Boolean array, shape of ``values``: True where the value is 0 (background) or a code."""
        return self._lookup(values, "subclass") >= 0

    def unknown_codes(self, values: np.ndarray | Iterable[int]) -> np.ndarray:
        """Distinct values of ``values`` (ascending, input dtype) that are neither 0 nor codes."""
        present = np.unique(np.asarray(values))
        return present[~self.is_known(present)]

    def to_level(self, values: np.ndarray | Iterable[int], level: Level) -> np.ndarray:
        """Coarsen codes to ``level``, vectorised through a lookup table.

        Args:
            values: integer codes, any shape / integer dtype (e.g. a ``uint32`` label raster).
            level: ``"group"``, ``"class"`` or ``"subclass"``.

        Returns:
            Array of the shape and dtype of ``values``: each code replaced by its ancestor at
            ``level`` (``435 → 430`` at class level, ``→ 400`` at group level). A code already
            coarser than ``level`` is kept (a group stays a group at class level); 0 stays 0.

        Raises:
            ValueError: a value is neither 0 nor a code (the message names them).
        """
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        v = np.asarray(values)
        out = self._lookup(v, level)
        if (out < 0).any():
            raise ValueError(f"codes not in the taxonomy: {_fmt_codes(np.unique(v[out < 0]))}")
        return out.astype(v.dtype, copy=False)


def _read_taxonomy_csv(text: str, source: str) -> CropTaxonomy:
    """Parse ``code,name,level,parent,group`` rows; the ``group`` column is cross-checked."""
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or set(rows[0]) != {"code", "name", "level", "parent", "group"}:
        raise ValueError(f"{source}: expected columns code,name,level,parent,group")
    taxonomy = CropTaxonomy(
        codes=tuple(int(r["code"]) for r in rows),
        names=tuple(r["name"] for r in rows),
        levels=tuple(r["level"] for r in rows),
        parents=tuple(int(r["parent"]) if r["parent"] else None for r in rows),
    )
    for r in rows:
        code, group = int(r["code"]), int(r["group"])
        if taxonomy.lineage(code)[-1] != group:
            raise ValueError(f"{source}: code {code} lists group {group}, its parents say else")
    return taxonomy


@cache
def load_faoicc() -> CropTaxonomy:
    """The Sen4AgriNet FAO-ICC taxonomy (seed 004, Sec. V-A), from ``nomenclatures/faoicc.csv``.

    168 entries: 9 groups, 54 classes, 105 subclasses (``docs/taxonomy.md``).
    """
    path = resources.files("sitsfusion.data") / "nomenclatures" / "faoicc.csv"
    return _read_taxonomy_csv(path.read_text(encoding="utf-8"), str(path))


def encode_codes(
    values: np.ndarray,
    nomenclature: Nomenclature,
    taxonomy: CropTaxonomy | None = None,
    default: int | None = None,
) -> np.ndarray:
    """Map FAO-ICC codes to the class ids of ``nomenclature``.

    A code goes to the class whose ``faoicc`` list holds the code itself or, failing that, its
    nearest ancestor (subclass → class → group): with PASTIS, ``191`` (mixed cereals) → 17
    "Mixed cereal", ``192`` → 10 "Winter triticale" (which lists ``190``).

    Args:
        values: FAO-ICC codes, any shape, any integer dtype (e.g. a ``uint32`` label raster).
        nomenclature: target classes; must carry ``faoicc`` lists.
        taxonomy: the code table; default :func:`load_faoicc`.
        default: id for codes of the taxonomy that no class covers (any int, e.g. an ignore
            index); None = the background id.

    Returns:
        ``int64`` array, shape of ``values``. 0 (background) → ``nomenclature.background``.
        Where the nomenclature has no background, ``void`` takes its place (MultiSenGE: 0,
        "No data"), and failing that ``default`` (Finistère).

    Raises:
        ValueError: a value is neither 0 nor a code of the taxonomy (the message lists them);
            the nomenclature has no ``faoicc`` lists or lists codes outside the taxonomy; a
            value needs a background / default id and the nomenclature has none.
        TypeError: ``values`` is not of an integer dtype.
    """
    taxonomy = load_faoicc() if taxonomy is None else taxonomy
    if nomenclature.faoicc is None:
        raise ValueError(f"nomenclature {nomenclature.name!r} has no FAO-ICC ('faoicc') lists")
    owner = {
        code: class_id
        for class_id, codes in zip(nomenclature.ids, nomenclature.faoicc, strict=True)
        for code in codes
    }
    foreign = sorted(c for c in owner if c not in taxonomy)
    if foreign:
        raise ValueError(
            f"nomenclature {nomenclature.name!r} lists codes not in the taxonomy: "
            f"{_fmt_codes(foreign)}"
        )
    v = np.asarray(values)
    if v.dtype.kind not in "iu":
        raise TypeError(f"crop codes must be integers, got dtype {v.dtype}")
    present, inverse = np.unique(v, return_inverse=True)
    unknown = present[~taxonomy.is_known(present)]
    if unknown.size:
        raise ValueError(f"codes not in the taxonomy: {_fmt_codes(unknown)}")
    fill = nomenclature.background if nomenclature.background is not None else nomenclature.void
    uncovered = fill if default is None else default
    mapped = np.empty(present.size, dtype=np.int64)
    for i, code in enumerate(present.tolist()):
        if code == _BACKGROUND_CODE:
            target = fill if fill is not None else default
        else:
            target = next((owner[c] for c in taxonomy.lineage(code) if c in owner), uncovered)
        if target is None:
            raise ValueError(
                f"code {code} needs a background / default id, but nomenclature "
                f"{nomenclature.name!r} has neither; pass default="
            )
        mapped[i] = target
    return mapped[np.reshape(inverse, -1)].reshape(v.shape)


# Seed 004, Sec. VI selects crop types only; its 11 classes contain no background, land-use
# (CLC 971-974), fallow / barren / no-data (975-977), unknown-crop (998) or grass (911, 912)
# code, although the text does not list exclusions. 970 is the parent of 971-977.
DEFAULT_EXCLUDE: tuple[int, ...] = (0, 975, 976, 977, 998, 970, 971, 972, 973, 974, 912, 911)


def select_common_classes(
    pixel_counts: Mapping[str, Mapping[int, int]],
    coverage: float = 0.999,
    exclude: Iterable[int] = DEFAULT_EXCLUDE,
) -> list[int]:
    """Seed 004, Sec. VI: the common labels of all regions forming ``coverage`` of the pixels.

    Keeps the codes with a positive count in every region, drops ``exclude``, sorts them by
    total count (descending, ties by code) and keeps the shortest prefix whose cumulative share
    of the kept codes' total reaches ``coverage`` (0.999: "all common labels forming the 99.9 %
    of the data"). The paper does not spell out exclusions, but its 11 classes (wheat, maize,
    sorghum, barley, rye, oats, grapes, rapeseed, sunflower, potatoes, peas) are all crops,
    while background, grass and the land-use classes would dominate any pixel count; the
    default ``exclude`` therefore drops 0, 970-977, 998, 911 and 912.

    Args:
        pixel_counts: region name → {code: pixel count}.
        coverage: share of the pixels to reach, in (0, 1].
        exclude: codes never selected.

    Returns:
        The selected codes, ascending (``[110, 120, …]``); empty when no code is common.
    """
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    if not pixel_counts:
        raise ValueError("pixel_counts is empty: need at least one region")
    for region, counts in pixel_counts.items():
        negative = sorted(int(c) for c, n in counts.items() if n < 0)
        if negative:
            raise ValueError(f"region {region!r}: negative pixel counts for codes {negative}")
    dropped = {int(c) for c in exclude}
    present = [{int(c) for c, n in counts.items() if n > 0} for counts in pixel_counts.values()]
    common = set.intersection(*present) - dropped
    totals = {c: sum(int(counts.get(c, 0)) for counts in pixel_counts.values()) for c in common}
    grand = sum(totals.values())
    if grand == 0:
        return []
    ranked = sorted(totals, key=lambda c: (-totals[c], c))
    chosen: list[int] = []
    cumulative = 0
    for code in ranked:
        chosen.append(code)
        cumulative += totals[code]
        if cumulative >= coverage * grand * (1.0 - 1e-12):
            break
    return sorted(chosen)
