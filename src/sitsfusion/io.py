"""File helpers shared by readers and writers: atomic writes, checked ``.npy`` and JSON reads.

Every reader of the package goes through these, so a missing, corrupt or truncated file always
gives the same one-line :class:`~sitsfusion.errors.DatasetError` naming it, a named pipe or
device where a file is expected is refused before it is opened (:func:`require_regular_file`:
nothing blocks), and every writer replaces its files atomically (a reader never sees half a
file).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from sitsfusion.errors import DatasetError

__all__ = [
    "NpyHeader",
    "atomic_path",
    "check_finite",
    "check_numeric_dtype",
    "load_npy",
    "non_finite_counts",
    "read_json",
    "read_npy_header",
    "require_regular_file",
    "save_npy_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

_NUMERIC = "iuf"  # numpy dtype kinds of real numbers (signed, unsigned, float)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` (same suffix) renamed over ``path`` when the block ends
    without error; removed otherwise. Readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (newlines written as given)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 4, newline: bool = True) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent) + ("\n" if newline else ""))


def require_regular_file(path: str | Path) -> os.stat_result:
    """The ``stat`` of ``path`` when it is a regular file (symbolic links followed).

    Called before a file is opened, so a named pipe, socket or device where a file is
    expected is refused instead of blocking (``open`` on a FIFO waits for a writer forever).

    Raises:
        DatasetError: missing, a folder, or not a regular file (named pipe, device, socket).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DatasetError(path, "is a folder; expected a file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise DatasetError(path, f"is {kind}; expected a regular file (refused before opening)")
    return st


def read_json(path: str | Path) -> Any:
    """The JSON document at ``path``; :class:`DatasetError` if missing, not a regular file or
    unreadable."""
    path = Path(path)
    require_regular_file(path)
    try:
        with path.open("rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(path, f"not a readable JSON file ({exc})") from None


# --------------------------------------------------------------------------------------------
# .npy files
# --------------------------------------------------------------------------------------------


class NpyHeader(NamedTuple):
    """What a ``.npy`` header says about its array."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes before the data


def _parse_header(f: BinaryIO) -> NpyHeader:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return NpyHeader(tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran), f.tell())


def _check_size(path: Path, header: NpyHeader, size: int) -> None:
    """The file holds exactly the bytes its header announces (``size``: the file's size)."""
    if header.dtype.hasobject:
        return  # pickled objects have no fixed size; load_npy refuses them by dtype
    need = math.prod(header.shape) * header.dtype.itemsize
    held = size - header.offset
    if held != need:
        count = math.prod(header.shape)
        if held < need:
            problem = (
                f"{max(held, 0) // header.dtype.itemsize} of the {count} values of a "
                f"{header.shape} {header.dtype} array: truncated"
            )
        else:
            problem = (
                f"longer than its header says: {held} bytes of data for a {header.shape} "
                f"{header.dtype} array of {need} bytes"
            )
        raise DatasetError(path, f"corrupt or truncated .npy file ({problem})")


def read_npy_header(path: str | Path) -> NpyHeader:
    """Shape, dtype, order and data offset from a ``.npy`` header, without reading the data;
    the file size is checked against the header.

    Raises:
        DatasetError: missing file, not a regular file, not a readable ``.npy`` header, or a
            data size that disagrees with the header's shape and dtype.
    """
    path = Path(path)
    st = require_regular_file(path)
    try:
        with path.open("rb") as f:
            header = _parse_header(f)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None
    _check_size(path, header, st.st_size)
    return header


def check_numeric_dtype(path: str | Path, dtype: np.dtype, what: str) -> None:
    """:class:`DatasetError` naming ``path`` unless ``dtype`` is a real numeric type."""
    if dtype.kind not in _NUMERIC:
        raise DatasetError(
            path,
            f"wrong dtype {dtype} for {what}; expected a real numeric type (integer or float)",
        )


def load_npy(
    path: str | Path,
    what: str = "an array",
    mmap: bool = False,
    header: NpyHeader | None = None,
) -> np.ndarray:
    """Read (or memory-map) a numeric ``.npy`` file, checking its dtype from the header first.

    The header is parsed once (not at all for a memory map when ``header`` is given); a
    non-numeric dtype (object, string, bool, complex) is refused before any data is read, so a
    pickled object array never runs code; a file shorter than its header says is reported as
    truncated.

    Args:
        path: the ``.npy`` file.
        what: what the array is, for the dtype error (``"an image time series"``).
        mmap: return a read-only memory map instead of reading the data.
        header: the file's header, when already read (memory maps only).

    Returns:
        the array with its stored shape and dtype.

    Raises:
        DatasetError: missing file, not a regular file, corrupt or truncated file, a data size
            that disagrees with the header, non-numeric dtype.
    """
    path = Path(path)
    if mmap:
        if header is None:
            header = read_npy_header(path)  # checks the file type and size
        check_numeric_dtype(path, header.dtype, what)
    else:
        st = require_regular_file(path)
    try:
        if mmap:
            return np.memmap(
                path,
                dtype=header.dtype,
                mode="r",
                offset=header.offset,
                shape=header.shape,
                order="F" if header.fortran else "C",
            )
        with path.open("rb") as f:
            header = _parse_header(f)
            check_numeric_dtype(path, header.dtype, what)
            _check_size(path, header, st.st_size)
            count = math.prod(header.shape)
            data = np.fromfile(f, dtype=header.dtype, count=count)
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None
    if data.size != count:
        raise DatasetError(
            path,
            f"corrupt or truncated .npy file ({data.size} of the {count} values of a "
            f"{header.shape} array)",
        )
    if header.fortran:
        return data.reshape(header.shape[::-1]).transpose()
    return data.reshape(header.shape)


def non_finite_counts(arr: np.ndarray) -> tuple[int, int] | None:
    """``(NaN count, ±inf count)`` of a float ``arr`` holding any, else None.

    One ``min`` and one ``max`` pass decide (NaN propagates through both, an infinity is an
    extreme), without the boolean array of ``np.isfinite``; counting only runs on failure."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    if math.isfinite(float(arr.min())) and math.isfinite(float(arr.max())):
        return None
    return int(np.isnan(arr).sum()), int(np.isinf(arr).sum())


def check_finite(path: str | Path, arr: np.ndarray) -> None:
    """:class:`DatasetError` naming ``path`` when a float ``arr`` holds NaN or infinite values
    (with their counts)."""
    counts = non_finite_counts(arr)
    if counts is not None:
        raise DatasetError(path, f"holds NaN/inf values ({counts[0]} NaN, {counts[1]} inf)")


def save_npy_atomic(path: str | Path, arr: np.ndarray) -> Path:
    """Write ``arr`` to ``path`` as ``.npy`` (no pickles) atomically; return ``path``."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, np.asarray(arr), allow_pickle=False)
    return Path(path)
