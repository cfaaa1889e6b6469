"""``sitsfusion fit`` never writes into, over or around data it did not create, and one run
folder has one writer at a time. On copies of the session's simulated (synthetic) PASTIS-R.
Every refusal: one line, exit code 2, the user's files unchanged byte for byte."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from writers_support import assert_one_line_error, data_digest, lock_in_child, tree_digest

from paths import CONFIGS
from sitsfusion.outputs import MARK, folder_lock

CONFIG = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
SMALL = [
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.n_pixels=8",
    "train.epochs=1",
]


def _fit(data: Path, out: Path, *flags: str) -> list[str]:
    args = ["fit", "--config", str(CONFIG), "--out", str(out), *flags]
    for item in [*SMALL, f"data.root={data}"]:
        args += ["--set", item]
    return args


@pytest.fixture()
def data(pastis_r: Path, tmp_path: Path) -> Path:
    shutil.copytree(pastis_r, tmp_path / "data")
    return tmp_path / "data"


OUTS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "the dataset": (lambda data, tmp: data, "is the input"),
    "inside the dataset": (lambda data, tmp: data / "runs" / "r1", "lies inside the input"),
    "a folder holding the dataset": (lambda data, tmp: tmp, "contains the input"),
    "a file of the dataset": (lambda data, tmp: data / "metadata.geojson", "not a folder"),
}


@pytest.mark.parametrize("flags", [(), ("--overwrite",), ("--resume",)])
@pytest.mark.parametrize("where", list(OUTS))
def test_fit_never_writes_around_its_dataset(
    where: str, flags: tuple[str, ...], data: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    make, message = OUTS[where]
    out = make(data, tmp_path)
    before = tree_digest(tmp_path)
    assert_one_line_error(sitsfusion_main(*_fit(data, out, *flags)), message)
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("flags", [(), ("--overwrite",), ("--resume",)])
def test_fit_never_clears_a_folder_it_did_not_make(
    flags: tuple[str, ...], data: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.tex").write_text("months of work")
    (mine / "sub" / "figure.png").write_bytes(b"\x89PNG")
    before = tree_digest(tmp_path)
    ran = sitsfusion_main(*_fit(data, mine, *flags))
    assert_one_line_error(ran, str(mine), "choose another")
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "notes.txt", "not a folder"),
        (lambda tmp: tmp / "notes.txt" / "run", "notes.txt"),
        (lambda tmp: tmp / ("r" * 300), "more than the 255 the file system allows"),
    ],
    ids=["an existing file", "under a file", "name too long"],
)
def test_fit_refuses_an_impossible_run_folder(
    make: Callable[[Path], Path],
    message: str,
    data: Path,
    tmp_path: Path,
    sitsfusion_main: Callable,
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    before = tree_digest(tmp_path)
    assert_one_line_error(sitsfusion_main(*_fit(data, make(tmp_path))), message)
    assert tree_digest(tmp_path) == before


def test_a_run_folder_in_use_is_refused_to_a_second_fit(
    data: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    out = tmp_path / "run"
    for flags in [(), ("--overwrite",), ("--resume",)]:
        with lock_in_child(out) as pid:
            before = data_digest(tmp_path)
            ran = sitsfusion_main(*_fit(data, out, *flags))
            assert_one_line_error(ran, f"in use by another sitsfusion process (pid {pid}")
            assert data_digest(tmp_path) == before
    with folder_lock(out):  # the same process too (a second fit of a notebook)
        assert sitsfusion_main(*_fit(data, out)).code == 2
    # free again: the run goes, its folder marked complete, no lock left behind
    assert sitsfusion_main(*_fit(data, out)).code == 0
    assert (out / "checkpoints" / "best.ckpt").is_file()
    assert '"complete": true' in (out / MARK).read_text()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MARK]
    # again without --resume / --overwrite: refused, naming both; the run is untouched
    before = tree_digest(out)
    assert_one_line_error(sitsfusion_main(*_fit(data, out)), "--resume", "--overwrite")
    assert tree_digest(out) == before
    # --overwrite: the run (sitsfusion's own) is replaced
    assert sitsfusion_main(*_fit(data, out, "--overwrite")).code == 0


@pytest.mark.parametrize("where", ["the dataset", "inside the dataset", "the checkpoint's folder"])
def test_robustness_never_writes_around_its_inputs(
    where: str, data: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"never read: refused before")
    out = {
        "the dataset": data,
        "inside the dataset": data / "clouds",
        "the checkpoint's folder": ckpt.parent,
    }[where]
    args = ["robustness", "--config", str(CONFIG), "--ckpt", str(ckpt), "--out", str(out)]
    args += ["--set", f"data.root={data}", "--overwrite"]
    before = tree_digest(tmp_path)
    ran = sitsfusion_main(*args)
    assert_one_line_error(ran, "choose an output outside the data it reads")
    assert tree_digest(tmp_path) == before
