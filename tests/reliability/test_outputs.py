"""Bad output paths for every writing command: refused in one line, nothing touched.

For ``simulate``, ``predict``, ``aggregate`` and ``demo``: an output that is the dataset in
use, lies inside it or contains it, a non-empty folder sitsfusion did not create (even with
``--overwrite``), an existing file, a path under a file, a name too long, a folder that is
not writable, a sitsfusion folder of another kind. Each case checks the one-line error names
the output and that no byte under the test's folder changed. The datasets are synthetic
(copies of the session's simulated PASTIS-R folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from writers_support import assert_one_line_error, tree_digest

from paths import CONFIGS
from sitsfusion.outputs import (
    MARK,
    OutputError,
    OutputExistsError,
    check_not_input,
    check_output_path,
    prepare_output_folder,
    write_mark,
)

SEMANTIC = CONFIGS / "garnot2021" / "semantic" / "s2.yaml"


@pytest.fixture
def place(tmp_path: Path, pastis_r: Path) -> dict[str, Path]:
    """A test folder: ``datasets/data`` (a marked synthetic PASTIS-R copy), ``mine`` (a user's
    non-empty folder), ``notes.txt`` (a user's file), ``model.ckpt`` (a stand-in checkpoint:
    every refusal comes before it is read) and ``maps`` (a folder of predict's)."""
    data = tmp_path / "datasets" / "data"
    shutil.copytree(pastis_r, data)
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "a.txt").write_text("my work")
    (mine / "sub" / "b.bin").write_bytes(os.urandom(64))
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "model.ckpt").write_bytes(b"not read")
    (tmp_path / "maps" / "maps").mkdir(parents=True)
    (tmp_path / "maps" / "maps" / "p.tif").write_bytes(b"tif")
    write_mark(tmp_path / "maps", "maps", complete=True)
    return {"root": tmp_path, "data": data, "mine": mine, "file": tmp_path / "notes.txt"}


def _args(command: str, place: dict[str, Path], out: Path, overwrite: bool) -> list[str]:
    """The command line of ``command`` writing to ``out`` and reading ``place['data']``."""
    data = place["data"]
    flag = ["--overwrite"] if overwrite else []
    if command == "simulate":
        return ["simulate", "--out", out, "--patches", "1", "--size", "8", *flag]
    if command == "predict":
        ckpt = place["root"] / "model.ckpt"
        cfg = ["--config", SEMANTIC, "--set", f"data.root={data}"]
        return ["predict", *cfg, "--ckpt", ckpt, "--out", out, *flag]
    if command == "aggregate":
        return ["aggregate", data, "--out", out, *flag]
    return ["demo", "--out", out, "--patches", "1", "--size", "8", "--epochs", "0"]


COMMANDS = ("simulate", "predict", "aggregate", "demo")
NAME_MAX = os.pathconf("/tmp", "PC_NAME_MAX")

# (case, command) -> (where the output is, --overwrite, words of the refusal)
Where = Callable[[dict[str, Path]], Path]
CASES: dict[tuple[str, str], tuple[Where, bool, str]] = {}
for _command in COMMANDS:
    _table = _command == "aggregate"
    CASES[("is the dataset", _command)] = (
        lambda p: p["data"],
        False,
        {
            "simulate": "not an empty directory",
            "predict": "is the input",
            "aggregate": "is a folder",
            "demo": "not an empty directory",
        }[_command],
    )
    CASES[("inside the dataset", _command)] = (
        (lambda p: p["data"] / "oad.parquet") if _table else (lambda p: p["data"] / "out"),
        False,
        "lies inside the input",
    )
    CASES[("contains the dataset", _command)] = (
        lambda p: p["root"] / "datasets",
        _command != "demo",  # even with --overwrite
        {
            "simulate": "not created by sitsfusion",
            "predict": "contains the input",
            "aggregate": "is a folder",
            "demo": "not an empty directory",
        }[_command],
    )
    CASES[("a user's folder, --overwrite", _command)] = (
        (lambda p: p["mine"] / "a.txt") if _table else (lambda p: p["mine"]),
        _command != "demo",
        "not written by sitsfusion" if _table else "not created by sitsfusion",
    )
    if _command == "demo":  # no --overwrite: a user's folder is refused as not empty
        CASES[("a user's folder, --overwrite", _command)] = (
            lambda p: p["mine"],
            False,
            "not an empty directory",
        )
    CASES[("an existing file", _command)] = (
        lambda p: p["file"],
        False,
        "exists; pass --overwrite" if _table else "exists and is a file, not a folder",
    )
    CASES[("under a file", _command)] = (
        lambda p, name=("t.csv" if _table else "out"): p["file"] / name,
        False,
        "which is a file, not a folder",
    )
    CASES[("name too long", _command)] = (
        lambda p: p["root"] / ("x" * (NAME_MAX + 1)),
        False,
        f"more than the {NAME_MAX}",
    )


@pytest.mark.parametrize(("case", "command"), list(CASES), ids=[f"{c}-{k}" for k, c in CASES])
def test_a_bad_output_is_refused_and_nothing_changes(
    case: str, command: str, place: dict[str, Path], sitsfusion_main: Callable
) -> None:
    where, overwrite, words = CASES[(case, command)]
    out = where(place)
    before = tree_digest(place["root"])
    ran = sitsfusion_main(*_args(command, place, out, overwrite))
    line = assert_one_line_error(ran, words)
    assert out.name[:20] in line  # the message names the output
    assert tree_digest(place["root"]) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_in_a_folder_that_is_not_writable_is_refused(
    command: str, place: dict[str, Path], sitsfusion_main: Callable
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = place["root"] / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = locked / ("t.parquet" if command == "aggregate" else "out")
        before = tree_digest(place["root"])
        ran = sitsfusion_main(*_args(command, place, out, False))
        assert_one_line_error(ran, "permission denied")
        assert tree_digest(place["root"]) == before
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(
    ("command", "other"),
    [("simulate", "maps"), ("predict", "dataset")],
    ids=["simulate over maps", "predict over a dataset"],
)
def test_overwrite_clears_only_a_folder_of_its_own_kind(
    command: str, other: str, place: dict[str, Path], sitsfusion_main: Callable
) -> None:
    out = place["root"] / "maps"
    if other == "dataset":  # a simulated dataset that predict does not read
        out = place["root"] / "other"
        shutil.copytree(place["data"], out)
    before = tree_digest(place["root"])
    ran = sitsfusion_main(*_args(command, place, out, True))
    kind = "dataset" if command == "simulate" else "maps"
    assert_one_line_error(ran, f"a sitsfusion {other} folder, not a {kind} folder")
    assert tree_digest(place["root"]) == before


def test_aggregate_replaces_an_oad_table_only_with_overwrite(
    place: dict[str, Path], sitsfusion_main: Callable
) -> None:
    table = place["root"] / "oad.csv"
    assert sitsfusion_main("aggregate", place["data"], "--out", table, "--csv").code == 0
    before = tree_digest(place["root"])
    ran = sitsfusion_main("aggregate", place["data"], "--out", table, "--csv")
    assert_one_line_error(ran, "oad.csv", "exists; pass --overwrite")
    assert tree_digest(place["root"]) == before
    ran = sitsfusion_main("aggregate", place["data"], "--out", table, "--csv", "--overwrite")
    assert ran.code == 0, ran.stdout
    assert not list(place["root"].glob(".oad.csv*"))  # no lock nor temporary file left


@pytest.mark.parametrize("size", ["0", "-3"])
def test_predict_batch_size_below_one_is_a_usage_error(
    size: str, place: dict[str, Path], sitsfusion_main: Callable
) -> None:
    out = place["root"] / "new"
    ran = sitsfusion_main(*_args("predict", place, out, False), "--batch-size", size)
    assert ran.code == 2
    assert "--batch-size" in ran.stderr and "Traceback" not in ran.stdout + ran.stderr
    assert not out.exists()


# ------------------------------------------------------------------------- the API directly


def test_check_output_path_refusals(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OutputError, match="empty output path"):
        check_output_path("  ")
    with pytest.raises(OutputExistsError, match="is a folder; a file name is expected"):
        check_output_path(tmp_path, folder=False)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output_path(tmp_path / "pipe", folder=False)
    with pytest.raises(OutputError, match="lies under"):
        check_output_path(tmp_path / "f" / "a" / "b")
    assert check_output_path(tmp_path / "new" / "deeper") == (tmp_path / "new/deeper").resolve()
    assert not (tmp_path / "new").exists()  # nothing is created


def test_check_not_input_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    with pytest.raises(OutputError, match="is the input"):
        check_not_input(tmp_path / "link", [tmp_path / "data"])
    with pytest.raises(OutputError, match="lies inside the input"):
        check_not_input(tmp_path / "link" / "x", [tmp_path / "data"])
    check_not_input(tmp_path / "elsewhere", [tmp_path / "data", None])


def test_overwrite_clears_a_marked_folder_but_keeps_it(tmp_path: Path) -> None:
    out = prepare_output_folder(tmp_path / "run", kind="run")
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        prepare_output_folder(out, kind="run")
    inode = out.stat().st_ino
    prepare_output_folder(out, kind="run", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [MARK] and out.stat().st_ino == inode


def test_owned_recognises_an_unmarked_folder_sitsfusion_wrote(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "x").write_text("x")
    prepare_output_folder(old, kind="run", overwrite=True, owned=lambda f: True)
    assert not (old / "x").exists()


def test_a_folder_the_user_cannot_write_in_is_refused_also_when_run_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root every folder is writable, so the test above skips; here the permission check
    is made to answer "no" as it would for a user without write access."""
    from sitsfusion.outputs import OutputError, check_output_path

    real = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: Path(p) != locked and real(p, mode, **kw)
    )
    with pytest.raises(OutputError, match=r"locked/out: cannot write in .*locked \(permission"):
        check_output_path(locked / "out")
    check_output_path(tmp_path / "free" / "out")  # elsewhere: fine
