"""Output folders and files: checked before writing, marked, locked, never destroyed.

Every folder sitsfusion creates as an output (a simulated dataset, a maps folder, a demo, a
run) carries a small JSON mark, :data:`MARK`, saying what it is and whether it is complete.
Only a folder with that mark (or one the caller recognises with ``owned``) is ever cleared by
``--overwrite``; a folder that is, contains or lies inside a dataset in use is refused; and a
folder being written is locked (:func:`folder_lock`), so a second process is refused instead
of mixing its files with the first one's.

Every refusal is one :class:`OutputError` line naming the path and what to do.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sitsfusion import __version__
from sitsfusion.io import write_json_atomic

__all__ = [
    "LOCK",
    "MARK",
    "OutputError",
    "OutputExistsError",
    "check_not_input",
    "check_output_folder",
    "check_output_path",
    "clear_folder",
    "created_by_sitsfusion",
    "file_lock",
    "folder_lock",
    "holds_any",
    "mark_complete",
    "output_folder",
    "prepare_output_file",
    "prepare_output_folder",
    "read_mark",
    "write_mark",
]

MARK = ".sitsfusion.json"
"""The mark of a folder sitsfusion created as an output: ``{"kind", "complete", "created",
"sitsfusion", "command", ...}``."""
LOCK = ".sitsfusion.lock"
"""The lock file of a folder being written (it exists only while a process holds the lock)."""
_BOOKKEEPING = frozenset({MARK, LOCK})  # what an otherwise empty sitsfusion folder holds
_NAME_MAX = 255  # when the file system does not say (POSIX NAME_MAX on Linux file systems)

Owned = Callable[[Path], bool]
"""Recognises an output sitsfusion made before it marked its folders (e.g. an old run)."""


def holds_any(*names: str) -> Owned:
    """An ``owned`` test for outputs written before folders were marked: the folder holds one
    of ``names`` (e.g. an experiment's ``run.json`` or ``results.csv``)."""

    def owned(folder: Path) -> bool:
        return any((Path(folder) / name).exists() for name in names)

    return owned


class OutputError(ValueError):
    """An output path sitsfusion will not write: the message names it and says what to do."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OutputExistsError(OutputError, FileExistsError):
    """The output exists already and is not sitsfusion's to replace (also a FileExistsError)."""


# --------------------------------------------------------------------------------------------
# checks (nothing is written)
# --------------------------------------------------------------------------------------------


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (a symlink counts when it resolves)."""
    for candidate in (path, *path.parents):
        try:
            os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # a name too long, a loop of symlinks: not there either
            if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):
                continue
            raise
        return candidate
    return Path(path.anchor or ".")


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return _NAME_MAX


def check_output_path(path: str | Path, *, folder: bool = True) -> Path:
    """The absolute, resolved ``path`` if sitsfusion can write an output folder (or file, with
    ``folder=False``) there; nothing is created.

    Raises:
        OutputError: an empty path; a name longer than the file system allows; a path under a
            regular file; an existing file where a folder is expected (or a folder, or a
            non-regular file such as a named pipe, where a file is); a parent folder that is
            not writable.
    """
    if not str(path).strip():
        raise OutputError(repr(str(path)), "empty output path; give a folder or file name")
    path = Path(path).expanduser()
    if path.name in ("", ".", "..") and not folder:
        raise OutputError(path, "a file name is expected, not a folder")
    existing = _nearest_existing(path.absolute())
    if not existing.is_dir() and existing != path.absolute():
        raise OutputError(
            path, f"lies under {existing}, which is a file, not a folder; choose another path"
        )
    limit = _name_max(existing if existing.is_dir() else existing.parent)
    for part in path.absolute().parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(
                path,
                f"name {part[:24]!r}... is {len(os.fsencode(part))} bytes long, more than the "
                f"{limit} the file system allows; choose a shorter name",
            )
    resolved = path.resolve()
    if resolved.exists():
        mode = os.stat(resolved).st_mode
        if folder and not stat.S_ISDIR(mode):
            raise OutputExistsError(
                path, "exists and is a file, not a folder; choose a folder path"
            )
        if not folder and stat.S_ISDIR(mode):
            raise OutputExistsError(path, "is a folder; a file name is expected")
        if not folder and not stat.S_ISREG(mode):
            raise OutputError(path, "exists and is not a regular file (a pipe or device?)")
    writable = resolved if resolved.is_dir() else _nearest_existing(resolved.parent)
    if not os.access(writable, os.W_OK | os.X_OK):
        raise OutputError(path, f"cannot write in {writable} (permission denied)")
    return resolved


def check_not_input(out: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse an output ``out`` that is, contains or lies inside one of ``inputs`` (dataset
    roots, checkpoints in use); paths are compared resolved (symlinks followed).

    Raises:
        OutputError: naming ``out`` and the input.
    """
    target = Path(out).expanduser().resolve()
    for item in inputs:
        if item is None or not str(item).strip():
            continue
        source = Path(item).expanduser().resolve()
        if target == source:
            where = "is the input"
        elif source in target.parents:
            where = "lies inside the input"
        elif target in source.parents:
            where = "contains the input"
        else:
            continue
        raise OutputError(out, f"{where} {item}; choose an output outside the data it reads")


def read_mark(folder: str | Path) -> dict[str, Any] | None:
    """The :data:`MARK` of ``folder``, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MARK
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and "kind" in mark else None


def created_by_sitsfusion(folder: str | Path, kind: str | None = None) -> bool:
    """True when ``folder`` holds the :data:`MARK` (of that ``kind``, if given)."""
    mark = read_mark(folder)
    return mark is not None and (kind is None or mark.get("kind") == kind)


def _contents(folder: Path) -> list[str]:
    """The entries of ``folder`` besides sitsfusion's bookkeeping."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.name not in _BOOKKEEPING)


# --------------------------------------------------------------------------------------------
# locks
# --------------------------------------------------------------------------------------------


def _holder(lock_path: Path) -> str:
    """``"pid N, since T"`` from a lock file (what the holder wrote), or ``"pid unknown"``."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8"))
        return f"pid {int(info['pid'])}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


def _in_use(lock_path: Path, what: Path) -> OutputError:
    return OutputError(
        what,
        f"in use by another sitsfusion process ({_holder(lock_path)}); wait for it or choose "
        "another output",
    )


def _held_elsewhere(lock_path: Path) -> bool:
    """True when another open file (this process included) holds the lock; never creates it."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)
    return False


def _acquire(lock_path: Path, what: Path) -> int:
    """An open descriptor holding the exclusive lock on ``lock_path`` (created)."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _in_use(lock_path, what) from None
            raise
        try:  # the holder may have removed the file between our open and our lock: retry
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    info = {"pid": os.getpid(), "since": dt.datetime.now().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(info).encode())
    return fd


@contextmanager
def _lock(lock_path: Path, what: Path) -> Iterator[None]:
    fd = _acquire(lock_path, what)
    try:
        yield
    finally:
        try:
            lock_path.unlink(missing_ok=True)  # removed while still held: no one can take it
        finally:
            os.close(fd)


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``folder`` (created if absent) for the block:
    ``fcntl.flock`` on ``<folder>/.sitsfusion.lock``, released at the end of the block or when
    the process dies. Call :func:`prepare_output_folder` first: it refuses a folder that is
    not sitsfusion's without writing anything in it.

    Raises:
        OutputError: another process, or another lock of this process, holds it.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _lock(folder / LOCK, folder):
            yield folder
    except BaseException:
        if created:  # a command refused before it wrote anything leaves no folder behind
            _remove_if_bare(folder)
        raise


def _remove_if_bare(folder: Path) -> None:
    """Remove ``folder`` if it holds nothing but its mark (and a lock file)."""
    try:
        names = {p.name for p in folder.iterdir()}
        if names <= {MARK, LOCK}:
            for name in names:
                (folder / name).unlink(missing_ok=True)
            folder.rmdir()
    except OSError:  # another process wrote into it meanwhile: leave it
        pass


@contextmanager
def file_lock(path: str | Path) -> Iterator[Path]:
    """:func:`folder_lock` for an output file: the lock is ``.<name>.sitsfusion.lock`` beside
    it, removed when released."""
    path = Path(path)
    with _lock(path.parent / f".{path.name}{LOCK}", path):
        yield path


# --------------------------------------------------------------------------------------------
# preparing outputs
# --------------------------------------------------------------------------------------------


def write_mark(
    folder: str | Path, kind: str, *, complete: bool = False, command: str = "", **fields: Any
) -> None:
    """Write the :data:`MARK` of ``folder`` atomically (``created``: now)."""
    mark = {
        "kind": kind,
        "complete": complete,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "sitsfusion": __version__,
        "command": command,
        **fields,
    }
    write_json_atomic(Path(folder) / MARK, mark)


def mark_complete(folder: str | Path, **fields: Any) -> None:
    """Rewrite the :data:`MARK` of ``folder`` atomically with ``complete: true`` (and
    ``fields``); written last, so a folder marked complete holds everything."""
    folder = Path(folder)
    mark = read_mark(folder) or {"kind": fields.pop("kind", "output")}
    mark.update(fields)
    mark["complete"] = True
    write_json_atomic(folder / MARK, mark)


def clear_folder(folder: Path) -> None:
    """Remove everything in ``folder`` but its lock file (symlinks removed, never followed)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == LOCK:
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()


def _decide(
    folder: Path,
    kind: str,
    overwrite: bool,
    owned: Owned | None,
    reuse: bool,
    replace_incomplete: bool,
    locked: bool = False,
) -> str:
    """What to do with ``folder``: ``"create"``, ``"clear"`` or ``"keep"``; refusals raised.
    Reads only; a folder locked by another process (or another lock of this one) is refused
    as in use, unless the caller holds the lock (``locked``)."""
    if not folder.exists():
        return "create"
    if not locked and _held_elsewhere(folder / LOCK):
        raise _in_use(folder / LOCK, folder)
    contents = _contents(folder)
    if not contents:
        return "create"
    mark = read_mark(folder)
    ours = mark is not None or (owned is not None and owned(folder))
    same_kind = ours and (mark is None or mark.get("kind") == kind)
    if same_kind and reuse:
        return "keep"
    if same_kind and replace_incomplete and mark is not None and not mark.get("complete"):
        return "clear"  # an interrupted output of the same command: redone
    what = f"a sitsfusion {mark['kind']} folder" if mark else "a folder"
    if not overwrite:
        hint = "pass --overwrite to replace it, or " if same_kind else ""
        raise OutputExistsError(
            folder, f"exists and is not an empty directory ({what}); {hint}choose another folder"
        )
    if not ours:
        raise OutputExistsError(
            folder,
            "not created by sitsfusion (no .sitsfusion.json mark): never cleared, even with "
            "--overwrite; choose another output folder",
        )
    if not same_kind:
        raise OutputExistsError(
            folder,
            f"{what}, not a {kind} folder: never cleared by --overwrite here; choose "
            "another output folder",
        )
    return "clear"


def _prepare(folder: Path, kind: str, action: str, command: str, fields: dict[str, Any]) -> None:
    """Carry out ``action`` on ``folder`` (whose lock the caller holds)."""
    if action == "keep":
        mark = read_mark(folder) or {}
        fields = {k: v for k, v in fields.items() if k not in mark}
        write_json_atomic(folder / MARK, {**mark, "kind": kind, "complete": False, **fields})
        return
    if action == "clear":
        clear_folder(folder)
    write_mark(folder, kind, complete=False, command=command, **fields)


def _inside_dataset(path: Path) -> list[Path]:
    """The folders above ``path`` that sitsfusion marked as datasets."""
    return [p for p in path.parents if created_by_sitsfusion(p, "dataset")]


def _checked_folder(
    folder: str | Path,
    inputs: Iterable[str | Path | None],
) -> Path:
    path = check_output_path(folder, folder=True)
    check_not_input(path, [*inputs, *_inside_dataset(path)])
    return path


def check_output_folder(
    folder: str | Path,
    *,
    kind: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    owned: Owned | None = None,
    reuse: bool = False,
    replace_incomplete: bool = False,
) -> Path:
    """Every refusal of :func:`prepare_output_folder`, reading only (nothing is created): for a
    command to fail before its long work. Returns the resolved folder."""
    path = _checked_folder(folder, inputs)
    _decide(path, kind, overwrite, owned, reuse, replace_incomplete)
    return path


def prepare_output_folder(
    folder: str | Path,
    *,
    kind: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    owned: Owned | None = None,
    command: str = "",
    reuse: bool = False,
    replace_incomplete: bool = False,
    locked: bool = False,
    **fields: Any,
) -> Path:
    """Make ``folder`` ready for an output of ``kind`` and mark it (``complete: false``).

    Checks the path (:func:`check_output_path`) and the inputs (:func:`check_not_input`);
    an absent or empty folder is created and marked. A non-empty one is refused unless
    ``overwrite``, and even then cleared only when sitsfusion created it (its mark, or
    ``owned(folder)``); clearing removes its contents but keeps the folder and its lock.

    Args:
        folder: the output folder.
        kind: what it holds (``"dataset"``, ``"maps"``, ``"demo"``, ``"run"``, ...).
        overwrite: clear a non-empty folder sitsfusion created.
        inputs: data the command reads (dataset roots, checkpoints): never written over.
        owned: recognises outputs sitsfusion wrote before folders were marked.
        command: the command line, recorded in the mark.
        reuse: keep a folder of this ``kind`` sitsfusion created, contents and all.
        replace_incomplete: clear a folder of this ``kind`` whose mark says it was never
            completed (an interrupted run of the same command) without ``overwrite``.
        locked: the caller holds :func:`folder_lock` on ``folder`` already (else it is locked
            while prepared).
        fields: more entries of the mark (e.g. ``format="pastis-r"``).

    Returns:
        the resolved folder.

    Raises:
        OutputError: a bad path, an input in the way, a folder in use by another process;
            :class:`OutputExistsError` for a non-empty folder that is not to be cleared.
    """
    path = _checked_folder(folder, inputs)
    args = (kind, overwrite, owned, reuse, replace_incomplete)
    action = _decide(path, *args, locked=locked)  # refusals before anything is created
    if locked:
        _prepare(path, kind, action, command, fields)
        return path
    path.mkdir(parents=True, exist_ok=True)
    with _lock(path / LOCK, path):
        _prepare(path, kind, _decide(path, *args, locked=True), command, fields)
    return path


@contextmanager
def output_folder(
    folder: str | Path,
    *,
    kind: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    owned: Owned | None = None,
    command: str = "",
    reuse: bool = False,
    replace_incomplete: bool = False,
    **fields: Any,
) -> Iterator[Path]:
    """:func:`prepare_output_folder` and :func:`folder_lock` in one, with no gap between them:
    the folder is checked (reading only), locked, prepared under the lock and held locked
    for the block. The caller marks it complete (:func:`mark_complete`) when done."""
    path = _checked_folder(folder, inputs)
    args = (kind, overwrite, owned, reuse, replace_incomplete)
    _decide(path, *args)  # refusals before anything is created
    with folder_lock(path):
        action = _decide(path, *args, locked=True)  # again: another process may have written
        _prepare(path, kind, action, command, fields)
        yield path


def prepare_output_file(
    path: str | Path,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    owned: Owned | None = None,
) -> Path:
    """Check an output file: a writable path, outside the ``inputs``; an existing file is
    replaced only with ``overwrite`` and when ``owned(path)`` says sitsfusion wrote it.

    Raises:
        OutputError: as :func:`check_output_path` / :func:`check_not_input`;
            :class:`OutputExistsError` for an existing file not to be replaced.
    """
    target = check_output_path(path, folder=False)
    check_not_input(target, [*inputs, *_inside_dataset(target)])
    if target.exists():
        if not overwrite:
            raise OutputExistsError(path, "exists; pass --overwrite to replace it")
        if owned is None or not owned(target):
            raise OutputExistsError(
                path, "exists and was not written by sitsfusion: never replaced; choose another"
            )
    return target
