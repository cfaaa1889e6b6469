"""Output locks: a folder (or table) being written by one sitsfusion process is refused to a
second one, in one line naming the holder; the lock goes with the process that held it.

The datasets are synthetic (copies of the session's simulated PASTIS-R folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from writers_support import assert_one_line_error, lock_in_child, tree_digest

from paths import CONFIGS
from sitsfusion.outputs import (
    LOCK,
    OutputError,
    file_lock,
    folder_lock,
    prepare_output_folder,
    write_mark,
)

SEMANTIC = CONFIGS / "garnot2021" / "semantic" / "s2.yaml"


def _command(command: str, data: Path, out: Path, ckpt: Path) -> list[object]:
    if command == "simulate":
        return ["simulate", "--out", out, "--patches", "1", "--size", "8"]
    if command == "predict":
        cfg = ["--config", SEMANTIC, "--set", f"data.root={data}"]
        return ["predict", *cfg, "--ckpt", ckpt, "--out", out]
    if command == "aggregate":
        return ["aggregate", data, "--out", out]
    return ["demo", "--out", out, "--patches", "1", "--size", "8", "--epochs", "0"]


@pytest.mark.parametrize("command", ["simulate", "predict", "aggregate", "demo"])
def test_a_command_is_refused_an_output_another_lock_holds(
    command: str, tmp_path: Path, pastis_r: Path, sitsfusion_main: Callable
) -> None:
    data = tmp_path / "data"
    shutil.copytree(pastis_r, data)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not read")
    out = tmp_path / ("oad.parquet" if command == "aggregate" else "out")
    with file_lock(out) if command == "aggregate" else folder_lock(out):
        before = tree_digest(tmp_path)
        ran = sitsfusion_main(*_command(command, data, out, ckpt))
        assert_one_line_error(
            ran, out.name, f"in use by another sitsfusion process (pid {os.getpid()}"
        )
        assert tree_digest(tmp_path) == before
    assert not out.exists() or not any(out.iterdir())


def test_a_second_process_is_refused_until_the_first_dies(
    tmp_path: Path, sitsfusion_main: Callable
) -> None:
    out = tmp_path / "sim"
    args = ("simulate", "--out", out, "--patches", "1", "--size", "8")
    with lock_in_child(out) as pid:
        assert_one_line_error(sitsfusion_main(*args), f"(pid {pid}, since ", "wait for it")
    assert sitsfusion_main(*args).code == 0  # SIGKILL released the lock
    assert (out / "metadata.geojson").is_file() and not (out / LOCK).exists()


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "f") as folder:
        assert (folder / LOCK).is_file()
        with pytest.raises(OutputError, match="in use by another sitsfusion process"):
            with folder_lock(folder):
                pass
    assert not (tmp_path / "f" / LOCK).exists()  # removed when released
    with folder_lock(tmp_path / "f"):  # and free again
        pass


def test_prepare_refuses_a_folder_locked_elsewhere_and_never_clears_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare_output_folder(out, kind="run")
    (out / "epoch.ckpt").write_text("being written")
    with lock_in_child(out), pytest.raises(OutputError, match="in use"):
        prepare_output_folder(out, kind="run", overwrite=True)
    assert (out / "epoch.ckpt").read_text() == "being written"


def test_a_stale_lock_file_of_a_dead_process_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "maps"
    out.mkdir()
    write_mark(out, "maps")
    (out / LOCK).write_text('{"pid": 999999999, "since": "yesterday"}')  # left by a SIGKILL
    with folder_lock(out):
        pass
    assert prepare_output_folder(out, kind="maps") == out.resolve()
