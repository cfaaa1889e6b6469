"""Writers killed mid-way: no folder that reads as a dataset is left, and the same command run
again writes exactly what an uninterrupted run writes (sha256 of every file). ``predict``
leaves a folder that is complete or visibly incomplete, and never stale maps beside new ones.

Every dataset here is synthetic (the simulator's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from writers_support import (
    assert_one_line_error,
    data_digest,
    lock_in_child,
    run_killed_writers,
)

from paths import CONFIGS
from sitsfusion.data.readers import detect_format
from sitsfusion.errors import DatasetError
from sitsfusion.outputs import LOCK, MARK, read_mark, write_mark
from sitsfusion.simulate import simulate_multisenge, simulate_pastis, simulate_sen4agrinet
from sitsfusion.simulate.writing import remove_stale_partials

# format -> (writer, arguments, module and name of the function writing one file)
WRITERS: dict[str, tuple[Callable[..., Any], dict[str, Any], str, str]] = {
    "pastis-r": (simulate_pastis, {"patches": 3, "size": 16, "seed": 1}, "pastis", "_save_npy"),
    "multisenge": (
        simulate_multisenge,
        {"patches": 2, "size": 16, "seed": 1},
        "multisenge",
        "_write_tif",
    ),
    "sen4agrinet": (
        simulate_sen4agrinet,
        {"patches": 2, "size": 12, "seed": 1},
        "sen4agrinet",
        "_write_patch",
    ),
}
ADDED = "sen4agrinet, added"  # a year added to a Sen4AgriNet folder, killed


def _spec(fmt: str, out: Path, **extra: Any) -> dict[str, Any]:
    """The writer of ``fmt`` into ``out``, killed right after its first file."""
    writer, kwargs, module, function = WRITERS[fmt]
    return {
        "writer": writer.__name__,
        "out": str(out),
        "kwargs": {**kwargs, **extra},
        "module": f"sitsfusion.simulate.{module}",
        "function": function,
        "files": 1,
    }


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One output per format whose writer was SIGKILLed after its first file, and a complete
    Sen4AgriNet folder into which adding another year was SIGKILLed (all in one subprocess)."""
    base = tmp_path_factory.mktemp("killed")
    outs = {fmt: base / fmt / "data" for fmt in WRITERS}
    outs[ADDED] = base / "added" / "S4A"
    simulate_sen4agrinet(outs[ADDED], patches=1, size=12, seed=1, region="france")
    specs = [_spec(fmt, outs[fmt]) for fmt in WRITERS]
    specs.append(_spec("sen4agrinet", outs[ADDED], year=2020))
    for status in run_killed_writers(specs):
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return outs


def _partials(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial-*"))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_a_killed_simulation_leaves_no_dataset_and_reruns_identically(
    fmt: str, killed: dict[str, Path], sitsfusion_main: Callable
) -> None:
    writer, kwargs, _, _ = WRITERS[fmt]
    out = killed[fmt]
    assert read_mark(out)["complete"] is False  # visibly incomplete ...
    assert {p.name for p in out.iterdir()} <= {MARK, LOCK}  # ... and empty
    with pytest.raises(DatasetError, match="no known dataset layout"):
        detect_format(out)
    assert_one_line_error(sitsfusion_main("info", out), "no known dataset layout")
    assert len(_partials(out)) == 1  # the killed writer's files, hidden beside
    writer(out, **kwargs)  # the same call again
    assert not _partials(out)  # the stale partial is gone
    assert read_mark(out)["complete"] is True
    writer(out.parent / "reference", **kwargs)  # an uninterrupted run
    assert data_digest(out) == data_digest(out.parent / "reference")


@pytest.mark.slow
def test_adding_sen4agrinet_patches_killed_keeps_the_dataset_complete(
    killed: dict[str, Path],
) -> None:
    out = killed[ADDED]
    assert len(list(out.glob("*.nc"))) == 1 and read_mark(out)["complete"] is True
    simulate_sen4agrinet(out, patches=2, size=12, seed=1, year=2020)
    assert len(list(out.glob("*.nc"))) == 3 and not _partials(out)


@pytest.mark.slow
def test_a_killed_simulate_command_reruns_identically(
    tmp_path: Path, sitsfusion_main: Callable
) -> None:
    out = tmp_path / "data"
    args = ["simulate", "--out", str(out), "--patches", "16", "--size", "32", "--seed", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitsfusion", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(any(p.glob("DATA_S2/*.npy")) for p in _partials(out)):
            assert proc.poll() is None, "the command ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert_one_line_error(sitsfusion_main("info", out), "no known dataset layout")
    assert sitsfusion_main(*args).code == 0
    reference = tmp_path / "reference"
    assert sitsfusion_main(*[str(reference) if a == str(out) else a for a in args]).code == 0
    assert data_digest(out) == data_digest(reference)
    assert not _partials(out)


def test_only_marked_partials_of_dead_writers_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "data"
    mine = tmp_path / ".data.partial-1"  # looks like a partial, but has no mark: the user's
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    live = tmp_path / ".data.partial-2"  # a live writer's
    live.mkdir()
    write_mark(live, "partial")
    dead = tmp_path / ".data.partial-3"  # a killed writer's
    (dead / "DATA_S2").mkdir(parents=True)
    write_mark(dead, "partial")
    early = tmp_path / ".data.partial-4"  # killed before it wrote its mark
    early.mkdir()
    (early / LOCK).write_text("")
    with lock_in_child(live):
        assert sorted(remove_stale_partials(out)) == [dead, early]
    assert (mine / "keep.txt").read_text() == "mine" and (live / MARK).is_file()


# ------------------------------------------------------------------------------- predict

CONFIG = CONFIGS / "sykas2022" / "pad" / "convstar_scenario1.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, sen4agrinet: Path) -> tuple[Any, Path]:
    """A semantic segmentation checkpoint of one epoch on the session's synthetic Sen4AgriNet."""
    from sitsfusion.config import load_config
    from sitsfusion.training import fit

    overrides = [f"data.root={sen4agrinet}", "data.reader.subpatch=12", "train.epochs=1"]
    overrides += ["data.batch_size=8", "model.encoder.hidden=8"]
    cfg = load_config(CONFIG, overrides)
    run = fit(cfg, tmp_path_factory.mktemp("writers") / "run")
    return cfg, run.checkpoint


class Interrupted(Exception):
    """Stands for a kill in the middle of writing the parcels."""


@pytest.mark.slow
def test_predict_is_complete_or_visibly_incomplete_and_leaves_no_stale_map(
    trained: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitsfusion.inference import predict as module
    from sitsfusion.inference import predict_maps
    from sitsfusion.outputs import OutputExistsError

    cfg, ckpt = trained
    out = tmp_path / "maps"

    def interrupted(*args: Any) -> None:
        raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(module, "write_parcels", interrupted)
        with pytest.raises(Interrupted):
            predict_maps(cfg, ckpt, out, split="all", progress=False)
    assert read_mark(out)["complete"] is False and list((out / "maps").glob("*.tif"))
    stale = out / "maps" / "2019_OLD_patch_0_0.tif"
    stale.write_bytes(b"a map of another run")
    result = predict_maps(cfg, ckpt, out, split="all", progress=False)  # redone, no --overwrite
    assert read_mark(out)["complete"] is True and not stale.exists()
    assert sorted((out / "maps").glob("*.tif")) == sorted(result.maps)
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        predict_maps(cfg, ckpt, out, split="all", progress=False)  # complete: not replaced
    stale.write_bytes(b"a map of another run")
    predict_maps(cfg, ckpt, out, split="all", progress=False, overwrite=True)
    assert not stale.exists() and read_mark(out)["complete"] is True
