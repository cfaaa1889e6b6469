"""What the writer reliability tests share: a digest of a folder tree and the check of a clean,
one-line refusal of the ``sitsfusion`` entry point."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from sitsfusion.outputs import MARK

__all__ = ["assert_one_line_error", "tree_digest"]


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
    """:func:`tree_digest` without the folders' marks (they record when they were written)."""
    return tree_digest(root, skip=(MARK,))


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
