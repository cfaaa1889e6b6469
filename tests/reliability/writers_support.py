"""What the writer reliability tests share: a digest of a folder tree and the check of a clean,
one-line refusal of the ``sitsfusion`` entry point."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sitsfusion.outputs import LOCK, MARK

__all__ = [
    "assert_one_line_error",
    "data_digest",
    "lock_in_child",
    "run_killed_writers",
    "tree_digest",
]


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


_HOLD = """
import sys
from sitsfusion.outputs import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_in_child(folder: Path) -> Iterator[int]:
    """Another process holding :func:`folder_lock` on ``folder`` (a fresh interpreter: forking
    the test process, whose torch threads may hold locks, can deadlock); yields its pid and
    kills it (SIGKILL) at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        signal.alarm(30)  # a child that never locks fails the test instead of hanging it
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        signal.alarm(0)
        yield proc.pid
    finally:
        signal.alarm(0)
        proc.kill()
        proc.wait()


_KILL = """
import importlib, json, os, signal, sys

def run(spec):
    mod = importlib.import_module(spec["module"])
    write_one, written = getattr(mod, spec["function"]), []

    def dying(*args, **kw):
        write_one(*args, **kw)
        written.append(args[0])
        if len(written) >= spec["files"]:
            os.kill(os.getpid(), signal.SIGKILL)

    setattr(mod, spec["function"], dying)
    writer = getattr(importlib.import_module("sitsfusion.simulate"), spec["writer"])
    writer(spec["out"], **spec["kwargs"])

importlib.import_module("sitsfusion.simulate")  # once, before forking (no thread has run)
statuses = []
for spec in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        try:
            run(spec)
        finally:
            os._exit(0)  # never reached when killed
    statuses.append(os.waitpid(pid, 0)[1])
print(json.dumps(statuses))
"""


def run_killed_writers(specs: list[dict[str, Any]]) -> list[int]:
    """Run simulator writers that SIGKILL themselves right after writing their
    ``spec["files"]``-th file, in one fresh interpreter that forks a child per spec (``spec``:
    ``writer`` name in :mod:`sitsfusion.simulate`, ``out``, ``kwargs``, and the ``module`` and
    ``function`` writing one file). Returns the children's wait statuses."""
    ran = subprocess.run(
        [sys.executable, "-c", _KILL, json.dumps(specs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(ran.stdout.strip().splitlines()[-1])
