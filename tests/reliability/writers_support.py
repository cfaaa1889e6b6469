"""What the writer reliability tests share: a digest of a folder tree and the check of a clean,
one-line refusal of the ``sitsfusion`` entry point."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sitsfusion.outputs import LOCK, MARK, folder_lock

__all__ = ["assert_one_line_error", "data_digest", "lock_in_child", "tree_digest"]


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``relative path -> "dir" | "link -> target" | sha256 of the bytes`` of everything under
    ``root`` (symlinks not followed), the names in ``skip`` left out."""
    digest: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if name in skip:
                continue
            key = str(path.relative_to(root))
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                digest[key] = f"link -> {os.readlink(path)}"
            elif stat.S_ISDIR(mode):
                digest[key] = "dir"
            else:
                digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def data_digest(root: Path) -> dict[str, str]:
    """:func:`tree_digest` without sitsfusion's bookkeeping: the folders' marks (they record
    when they were written) and lock files (a killed process leaves its own)."""
    return tree_digest(root, skip=(MARK, LOCK))


def assert_one_line_error(ran: Any, *needles: str) -> str:
    """The one line a refused command printed (exit code 2, no traceback), which holds every
    one of ``needles``."""
    assert ran.code == 2, (ran.code, ran.stdout, ran.stderr)
    assert "Traceback" not in ran.stdout + ran.stderr
    lines = ran.stdout.strip().splitlines()
    assert len(lines) == 1, ran.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@contextmanager
def lock_in_child(folder: Path) -> Iterator[int]:
    """A forked process holding :func:`folder_lock` on ``folder``; yields its pid, kills it
    (SIGKILL) at the end."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: lock, tell the parent, wait to be killed
        try:
            os.close(read)
            with folder_lock(folder):
                os.write(write, b"locked")
                signal.pause()
        finally:
            os._exit(0)
    os.close(write)
    try:
        signal.alarm(10)  # a child that never locks fails the test instead of hanging it
        assert os.read(read, 6) == b"locked"
        signal.alarm(0)
        yield pid
    finally:
        os.close(read)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
