"""How every simulator writer puts a dataset on disk: all or nothing, locked, restartable.

:func:`dataset_output` gives the writer a temporary sibling folder
``.<name>.partial-<pid>`` (in the same parent, so a rename is enough), and only when the
writer has finished moves its files into the output folder — the file a reader detects the
format by last — and marks the folder complete. A run killed at any moment leaves at most an
empty output folder marked incomplete, which no reader takes for a dataset, and a hidden
partial sibling; running the same command again removes the partial siblings of dead
processes and writes the dataset anew (the simulator is deterministic, so the result is the
same, byte for byte, as an uninterrupted run's).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sitsfusion.outputs import (
    LOCK,
    MARK,
    OutputError,
    check_output_path,
    folder_lock,
    mark_complete,
    output_folder,
    read_mark,
    write_mark,
)

__all__ = ["PARTIAL", "dataset_output", "remove_stale_partials"]

PARTIAL = ".{name}.partial-{pid}"
"""The temporary sibling a writer fills (``name``: the output folder's name)."""
KIND = "dataset"


def _is_simulated(folder: Path) -> bool:
    """A dataset the simulator wrote before folders were marked: its metadata says so."""
    from sitsfusion.data.readers import is_synthetic

    return is_synthetic(folder)


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove the partial siblings of ``out`` left by killed writers: only folders holding the
    :data:`~sitsfusion.outputs.MARK` (or nothing but a lock file: killed before marking it)
    whose lock no live process holds. Returns them."""
    removed = []
    for partial in out.parent.glob(PARTIAL.format(name=out.name, pid="*")):
        if partial.is_symlink() or not partial.is_dir():
            continue
        if read_mark(partial) is None and {p.name for p in partial.iterdir()} != {LOCK}:
            continue
        try:
            with folder_lock(partial):
                for entry in partial.iterdir():
                    if entry.name != LOCK:
                        _remove(entry)
        except OutputError:  # a live writer holds it
            continue
        partial.rmdir()
        removed.append(partial)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _move_in(partial: Path, out: Path, last: Sequence[str]) -> None:
    """Rename the entries of ``partial`` into ``out``, those named in ``last`` last."""
    names = sorted(
        (p.name for p in partial.iterdir() if p.name not in (MARK, LOCK)),
        key=lambda n: (n in last, last.index(n) if n in last else 0, n),
    )
    for name in names:
        target = out / name
        if target.exists() or target.is_symlink():
            raise OutputError(target, "appeared while the dataset was written; nothing replaced")
        os.rename(partial / name, target)


@contextmanager
def dataset_output(
    out: str | Path,
    fmt: str,
    *,
    overwrite: bool = False,
    add: bool = False,
    last: Sequence[str] = (),
    command: str = "",
) -> Iterator[Path]:
    """The folder a simulator writer fills; moved into ``out`` when the block ends without
    error (``last``: entries moved last, the ones a reader detects the format by).

    Args:
        out: the dataset folder: absent or empty, or (``overwrite``) a dataset sitsfusion
            wrote, or one whose writing was interrupted (redone without ``overwrite``).
        fmt: the format written (``"pastis-r"``), recorded in the folder's mark.
        overwrite: replace a dataset sitsfusion wrote (never a folder it did not create).
        add: ``out`` may be a complete dataset of ``fmt`` that sitsfusion wrote; the new
            files are added beside its files (Sen4AgriNet: other regions or years).
        last: names moved into ``out`` last.
        command: the command line, recorded in the mark.

    Raises:
        OutputError: see :func:`~sitsfusion.outputs.prepare_output_folder`.
    """
    out = check_output_path(out)
    remove_stale_partials(out)
    mark = read_mark(out)
    adding = add and mark is not None and mark.get("kind") == KIND and mark.get("format") == fmt
    adding = adding and bool(mark.get("complete"))
    if adding:
        claim = folder_lock(out)
    else:
        claim = output_folder(
            out,
            kind=KIND,
            overwrite=overwrite,
            owned=_is_simulated,
            command=command,
            replace_incomplete=True,
            format=fmt,
        )
    with claim:
        partial = out.parent / PARTIAL.format(name=out.name, pid=os.getpid())
        if partial.exists():  # this process's own leftover (an earlier call that failed)
            shutil.rmtree(partial)
        try:
            with folder_lock(partial):
                write_mark(partial, "partial", command=command, of=out.name)
                yield partial
                _move_in(partial, out, last)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        mark_complete(out)
