"""Class nomenclatures, kept as data (``nomenclatures/*.json``), not code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

__all__ = ["Nomenclature", "load_nomenclature"]


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
    """

    name: str
    ids: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...]
    background: int | None = None
    void: int | None = None

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
    """Load a packaged nomenclature by name (``"pastis"``)."""
    files = resources.files("sitsfusion.data") / "nomenclatures"
    path = files / f"{name}.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json") for p in files.iterdir())
        raise KeyError(f"unknown nomenclature {name!r}; known: {known}")
    spec = json.loads(path.read_text())
    classes = spec["classes"]
    return Nomenclature(
        name=spec["name"],
        ids=tuple(int(c["id"]) for c in classes),
        names=tuple(c["name"] for c in classes),
        colors=tuple(c["color"] for c in classes),
        background=spec.get("background"),
        void=spec.get("void"),
    )
