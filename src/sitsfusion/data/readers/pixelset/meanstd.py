"""The pytorch-psetae mean/std pickle (``<name>-meanstd.pkl``), read without running code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file

__all__ = ["find_meanstd", "read_meanstd"]

_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numbers, lists, tuples and numpy arrays only: no arbitrary code from a file."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS or (
            module == "numpy.dtypes" and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays)")


def read_meanstd(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a pytorch-psetae ``*-meanstd.pkl`` file: ``(mean, std)`` as float64 arrays.

    The pickle holds ``(means, stds)`` of shape ``()`` (one value for everything), ``(C,)``
    (per channel) or ``(T, C)`` (per date and channel). Only numbers, lists, tuples and numpy
    arrays are unpickled, so a malicious file cannot run code.

    Raises:
        DatasetError: missing or unreadable file, not a pair of equal-shape finite arrays with
            std > 0, rank above 2.
    """
    path = Path(path)
    require_regular_file(path)  # a named pipe would block the read
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f).load()
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DatasetError(path, f"not a readable mean/std pickle ({exc})") from None
    if not isinstance(obj, tuple | list) or len(obj) != 2:
        raise DatasetError(path, f"expected a pair (means, stds), got {type(obj).__name__}")
    try:
        mean, std = (np.asarray(x, dtype=np.float64) for x in obj)
    except (TypeError, ValueError):
        raise DatasetError(path, "means and stds must be numbers or arrays of numbers") from None
    if mean.shape != std.shape or mean.ndim > 2:
        raise DatasetError(
            path,
            f"means and stds must have one shape (), (C,) or (T, C): {mean.shape}, {std.shape}",
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
        raise DatasetError(path, "means must be finite and stds finite and > 0")
    return mean, std


def find_meanstd(root: Path) -> Path | None:
    """The ``*meanstd*.pkl`` file in ``root`` or ``root/META``; None when there is none.

    Raises:
        DatasetError: several such files (which one holds this data's statistics is unclear).
    """
    found = sorted(
        p
        for folder in (root, root / "META")
        for p in folder.glob("*.pkl")
        if "meanstd" in p.name.lower()
    )
    if len(found) > 1:
        raise DatasetError(
            root / "<name>-meanstd.pkl",
            f"several mean/std pickles in the root or META folder: {[p.name for p in found]}; "
            "keep one",
        )
    return found[0] if found else None
